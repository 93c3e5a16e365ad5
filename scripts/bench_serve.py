"""Serving speed: our server vs vLLM's OpenAI server vs the engine alone, same model and load, one run.

    .venv/bin/python scripts/bench_serve.py [--model DIR] [--concurrency 1 32 64]
        [--rounds 2] [--fake-pairs 400]

Each request streams a chat completion of exactly 256 tokens (ignore_eos) with a tool defined and
reasoning on, as coding assistants send them; vLLM's server runs with `--tool-call-parser glm47
--reasoning-parser glm45 --enable-auto-tool-choice`. The engine-alone row drives AsyncLLM in-process with
the same prompt and sampling, no HTTP. All three use the same engine settings (compiled, prefix caching).
Prints output tok/s, TTFT p50/p99 and the ratios. The client reads raw SSE bytes so that its own CPU use,
which shares this machine's cores with the servers, stays small and identical for both servers.

The Responses leg: the same load as streamed `/v1/responses` on our server, in phases alternating with
chat phases (`--rounds` of each), and on the fake backend `--fake-pairs` sequential requests alternating
between the two routes: what a Responses request costs over a chat completion, per request.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_client import Exchange, completion_tokens, cpu_seconds, pct, raw_post, serve, stop

from server.backends.local.tiny_model import TINY_MODEL_DIR

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "read_file",
            "description": "Read a file.",
            "parameters": {
                "type": "object",
                "properties": {"path": {"type": "string"}},
                "required": ["path"],
            },
        },
    }
]
ENGINE = {"max_model_len": 4096, "gpu_memory_utilization": 0.3, "enable_prefix_caching": True}
OUT_TOKENS = 256


@dataclass
class Result:
    tokens: int
    seconds: float
    ttfts: list[float]
    ttfbs: list[float]  # time to the first byte of the response body (diagnosis: transport vs output)

    @property
    def tok_s(self) -> float:
        return self.tokens / self.seconds

    def ttft(self, q: float) -> float:
        xs = sorted(self.ttfts)
        return xs[min(len(xs) - 1, int(q * len(xs)))] * 1000


def requests_for(concurrency: int) -> int:
    return max(16, concurrency * 3)


def body(i: int) -> dict[str, Any]:
    return {
        "model": "glm-bench",
        "messages": [{"role": "user", "content": f"Request {i}: read the config file."}],
        "tools": TOOLS,
        "max_tokens": OUT_TOKENS,
        "ignore_eos": True,
        "stream": True,
        "stream_options": {"include_usage": True},
    }


def responses_body(i: int) -> dict[str, Any]:
    """The same request in the Responses shape (flat tools, max_output_tokens)."""
    chat = body(i)
    return {
        "model": chat["model"],
        "input": chat["messages"][0]["content"],
        "tools": [{"type": "function", **t["function"]} for t in TOOLS],
        "max_output_tokens": OUT_TOKENS,
        "ignore_eos": True,
        "stream": True,
        "store": False,
    }


WIRES = {"chat": ("/v1/chat/completions", body), "responses": ("/v1/responses", responses_body)}


async def one_stream(host: str, port: int, i: int, wire: str = "chat") -> tuple[float, int, float]:
    """One benchmark request: time to the first generated text, the token count, time to first byte."""
    path, make = WIRES[wire]
    ex = await raw_post(host, port, path, make(i))
    return ex.ttft, completion_tokens(ex), ex.ttfb


async def drive(one: Callable[[int], Awaitable[tuple[float, int, float]]], concurrency: int) -> Result:
    """Warm up, then keep `concurrency` requests in flight until requests_for(concurrency) are done.

    The warm-up is a full wave at this concurrency: the compiled engine meets its batch shapes there
    (a first batch of 64 once stalled both servers for 10 s), not inside the measurement.
    """
    await asyncio.gather(*(one(-i) for i in range(1, concurrency + 1)))
    queue = list(range(requests_for(concurrency)))
    results: list[tuple[float, int, float]] = []

    async def worker() -> None:
        while queue:
            results.append(await one(queue.pop()))

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - start
    assert all(n == OUT_TOKENS for _, n, _ in results), "every request must produce exactly 256 tokens"
    return Result(
        sum(n for _, n, _ in results), elapsed, [f for f, _, _ in results], [b for _, _, b in results]
    )


async def http_load(base: str, concurrency: int, wire: str = "chat") -> Result:
    host, port = base.split("//")[1].split(":")
    return await drive(lambda i: one_stream(host, int(port), i, wire), concurrency)


def engine_alone(model: Path, levels: list[int]) -> dict[int, Result]:
    """AsyncLLM in this process: the ceiling any server can reach on this machine."""
    from transformers import AutoTokenizer
    from vllm import SamplingParams
    from vllm.engine.arg_utils import AsyncEngineArgs
    from vllm.inputs import tokens_input
    from vllm.sampling_params import RequestOutputKind
    from vllm.v1.engine.async_llm import AsyncLLM

    tok = AutoTokenizer.from_pretrained(model)

    async def run() -> dict[int, Result]:
        engine = AsyncLLM.from_engine_args(AsyncEngineArgs(model=str(model), **ENGINE))
        params = SamplingParams(max_tokens=OUT_TOKENS, ignore_eos=True, output_kind=RequestOutputKind.DELTA)
        counter = 0

        async def one(i: int) -> tuple[float, int, float]:
            nonlocal counter
            counter += 1
            msgs = body(i)["messages"]
            text = tok.apply_chat_template(msgs, tools=TOOLS, add_generation_prompt=True, tokenize=False)
            ids = tok.encode(text, add_special_tokens=False)
            start = time.perf_counter()
            ttft, n = 0.0, 0
            async for out in engine.generate(tokens_input(list(ids)), params, f"b{counter}"):
                n += len(out.outputs[0].token_ids)
                ttft = ttft or time.perf_counter() - start
            return ttft, n, ttft

        try:
            return {c: await drive(one, c) for c in levels}
        finally:
            engine.shutdown()

    return asyncio.run(run())


def phase(args: list[str]) -> dict[int, Result]:
    """Run one measurement in a fresh process (nothing left over from the previous one)."""
    out = subprocess.run([PY, __file__, *args], check=True, capture_output=True, text=True).stdout
    data = json.loads(out.strip().splitlines()[-1])
    return {int(c): Result(r["tokens"], r["seconds"], r["ttfts"], r["ttfbs"]) for c, r in data.items()}


def dump(results: dict[int, Result]) -> None:
    print(
        json.dumps(
            {
                c: {"tokens": r.tokens, "seconds": r.seconds, "ttfts": r.ttfts, "ttfbs": r.ttfbs}
                for c, r in results.items()
            }
        )
    )


def measure_server(
    name: str,
    cmd: list[str],
    port: int,
    levels: list[int],
    wires: tuple[str, ...] = ("chat",),
    rounds: int = 1,
) -> dict[str, list[dict[int, Result]]]:
    """Load phases on one server process; with several wires, their phases alternate `rounds` times."""
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "2"}
    proc = serve(cmd, f"http://127.0.0.1:{port}/health", env)
    results: dict[str, list[dict[int, Result]]] = {w: [] for w in wires}
    try:
        for _ in range(rounds):
            for wire in wires:
                load = ["--phase", "load", "--url", f"http://127.0.0.1:{port}", "--wire", wire]
                results[wire].append(phase([*load, "--concurrency", *map(str, levels)]))
        return results
    finally:
        stop(proc)
        print(f"  measured {name}", file=sys.stderr)


def fake_pairs(pairs: int) -> tuple[list[Exchange], list[Exchange], float, float]:
    """The fake backend, sequential requests alternating chat / Responses; each route's CPU per request."""
    cmd = [PY, "-m", "server", "serve", "--backend", "fake", "--port", "8303", "--log-level", "warning"]
    proc = serve(cmd, "http://127.0.0.1:8303/health", dict(os.environ))

    async def run() -> tuple[list[Exchange], list[Exchange], float, float]:
        got: dict[str, list[Exchange]] = {"chat": [], "responses": []}
        cpu = dict.fromkeys(got, 0.0)
        for i in range(pairs + 50):  # the first 50 pairs warm up
            for wire in got:
                path, make = WIRES[wire]
                before = cpu_seconds(proc.pid)
                ex = await raw_post("127.0.0.1", 8303, path, {**make(i), "model": "glm"})
                if i >= 50:
                    got[wire].append(ex)
                    cpu[wire] += cpu_seconds(proc.pid) - before
        return got["chat"], got["responses"], cpu["chat"] / pairs, cpu["responses"] / pairs

    try:
        return asyncio.run(run())
    finally:
        stop(proc)


def interleaved(
    ours_cmd: list[str], vllm_cmd: list[str], pairs: int
) -> tuple[list[Exchange], list[Exchange]]:
    """Concurrency 1 with both servers up and requests alternating between them.

    This machine stalls now and then for ~0.7 s in bursts lasting seconds (both servers' first bytes
    show it); alternating puts each burst on both alike, so their medians compare fairly.
    """
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "2"}
    procs = [
        serve(ours_cmd, "http://127.0.0.1:8301/health", env),
        serve(vllm_cmd, "http://127.0.0.1:8302/health", env),
    ]

    async def run() -> tuple[list[Exchange], list[Exchange]]:
        ours: list[Exchange] = []
        theirs: list[Exchange] = []
        for i in range(pairs + 4):
            a = await raw_post("127.0.0.1", 8301, "/v1/chat/completions", body(i))
            b = await raw_post("127.0.0.1", 8302, "/v1/chat/completions", body(i))
            if i >= 4:
                ours.append(a)
                theirs.append(b)
        return ours, theirs

    try:
        return asyncio.run(run())
    finally:
        for proc in procs:
            stop(proc)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=TINY_MODEL_DIR)
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 32, 64])
    ap.add_argument("--ttft-pairs", type=int, default=40, help="interleaved concurrency-1 TTFT requests")
    ap.add_argument("--rounds", type=int, default=2, help="alternating chat/Responses phases on our server")
    ap.add_argument("--fake-pairs", type=int, default=400, help="chat/Responses request pairs, fake backend")
    ap.add_argument("--phase", choices=["engine", "load"], help=argparse.SUPPRESS)
    ap.add_argument("--url", help=argparse.SUPPRESS)
    ap.add_argument("--wire", choices=list(WIRES), default="chat", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.phase == "engine":
        dump(engine_alone(args.model, args.concurrency))
        return
    if args.phase == "load":
        # The client gets the core vLLM leaves to the API process, away from the engine's core.
        os.sched_setaffinity(0, {max(os.sched_getaffinity(0))})
        dump({c: asyncio.run(http_load(args.url, c, args.wire)) for c in args.concurrency})
        return
    if not (args.model / "config.json").exists():
        subprocess.run([PY, str(ROOT / "scripts" / "make_tiny_glm.py"), str(args.model)], check=True)
    os.environ["VLLM_CPU_KVCACHE_SPACE"] = "2"
    levels = args.concurrency
    engine_args = ["--max-model-len", str(ENGINE["max_model_len"])]
    engine_args += ["--gpu-memory-utilization", str(ENGINE["gpu_memory_utilization"])]
    ours_cmd = [PY, "-m", "server", "serve", "--model", str(args.model), "--backend", "local"]
    ours_cmd += ["--served-model-name", "glm-bench", "--port", "8301", "--log-level", "warning", *engine_args]
    vllm_cmd = [PY, "-m", "vllm.entrypoints.openai.api_server", "--model", str(args.model)]
    vllm_cmd += ["--served-model-name", "glm-bench", "--port", "8302", "--tool-call-parser", "glm47"]
    vllm_cmd += ["--reasoning-parser", "glm45", "--enable-auto-tool-choice", "--uvicorn-log-level", "warning"]
    vllm_cmd += engine_args

    results = {
        "engine": phase(["--phase", "engine", "--model", str(args.model), "--concurrency", *map(str, levels)])
    }
    print("  measured engine alone", file=sys.stderr)
    ours = measure_server("glm-serve", ours_cmd, 8301, levels, ("chat", "responses"), args.rounds)
    results["ours"], results["ours_responses"] = ours["chat"][0], ours["responses"][0]
    results["vllm"] = measure_server("vLLM server", vllm_cmd, 8302, levels)["chat"][0]

    print(
        f"\n{OUT_TOKENS} output tokens per request, ignore_eos, tools + reasoning on; model {args.model.name}"
    )
    print(
        f"{'conc':>4} | {'engine tok/s':>12} | {'ours tok/s':>10} {'TTFT p50/p99 ms':>16} | "
        f"{'vLLM tok/s':>10} {'TTFT p50/p99 ms':>16} | "
        f"{'ours/vLLM':>9} {'ours/engine':>11} {'vLLM/engine':>11}"
    )
    for c in levels:
        e, o, v = results["engine"][c], results["ours"][c], results["vllm"][c]
        print(
            f"{c:>4} | {e.tok_s:>12.0f} | {o.tok_s:>10.0f} {o.ttft(0.5):>7.0f}/{o.ttft(0.99):<8.0f} | "
            f"{v.tok_s:>10.0f} {v.ttft(0.5):>7.0f}/{v.ttft(0.99):<8.0f} | {o.tok_s / v.tok_s:>8.2f}x "
            f"{o.tok_s / e.tok_s:>10.2f}x {v.tok_s / e.tok_s:>10.2f}x"
        )
    print("Responses leg, same server and load (phases alternate with chat):")
    for r in range(args.rounds):
        for c in levels:
            chat, resp = ours["chat"][r][c], ours["responses"][r][c]
            print(
                f"  round {r + 1} conc {c:>3}: chat {chat.tok_s:>6.0f} tok/s, responses {resp.tok_s:>6.0f} "
                f"tok/s ({resp.tok_s / chat.tok_s:.3f}x); TTFT p50 {chat.ttft(0.5):.0f} / "
                f"{resp.ttft(0.5):.0f} ms"
            )
    if args.fake_pairs:
        chat_x, resp_x, chat_cpu, resp_cpu = fake_pairs(args.fake_pairs)
        added = [(b.total - a.total) * 1e3 for a, b in zip(chat_x, resp_x, strict=True)]
        p50 = {k: pct([x.total for x in xs], 0.5) * 1e3 for k, xs in (("chat", chat_x), ("resp", resp_x))}
        print(
            f"fake backend, {args.fake_pairs} sequential pairs: p50 chat {p50['chat']:.2f} ms, responses "
            f"{p50['resp']:.2f} ms; Responses adds p50 {pct(added, 0.5):.3f} ms per request; server CPU "
            f"per request chat {chat_cpu * 1e3:.2f} ms, responses {resp_cpu * 1e3:.2f} ms"
        )
    if args.ttft_pairs:
        ours_x, vllm_x = interleaved(ours_cmd, vllm_cmd, args.ttft_pairs)
        med = statistics.median
        rate = {
            k: OUT_TOKENS * len(xs) / sum(x.total for x in xs) for k, xs in (("o", ours_x), ("v", vllm_x))
        }
        print(
            f"interleaved, concurrency 1, {args.ttft_pairs} requests each: "
            f"TTFT p50 ours {med(x.ttft for x in ours_x) * 1e3:.0f} ms, "
            f"vLLM {med(x.ttft for x in vllm_x) * 1e3:.0f} ms; "
            f"tok/s ours {rate['o']:.0f}, vLLM {rate['v']:.0f} ({rate['o'] / rate['v']:.2f}x)"
        )
    print(
        json.dumps(
            {
                k: {
                    c: {
                        "tok_s": round(r.tok_s),
                        "ttft_p50_ms": round(r.ttft(0.5)),
                        "ttft_p99_ms": round(r.ttft(0.99)),
                        "ttft_ms": [round(x * 1000) for x in r.ttfts],
                        "ttfb_ms": [round(x * 1000) for x in r.ttfbs],
                    }
                    for c, r in v.items()
                }
                for k, v in results.items()
            }
        )
    )


if __name__ == "__main__":
    main()
