"""The engine path: glm-serve over HTTP vs `vllm serve` over HTTP vs vLLM's AsyncLLM driven in-process.

    .venv/bin/python scripts/bench_engine.py [--model DIR] [--concurrency 1 32 64] [--rounds 1]
        [--servers glm-serve,vllm]

Each request streams a chat completion of exactly 256 tokens (ignore_eos) with a tool defined and
reasoning on, as coding assistants send them. The engine-alone row drives AsyncLLM in a process of its
own with the same prompt and sampling, no HTTP: the ceiling any server can reach on this machine.
`vllm serve` (vLLM's own OpenAI server, `python -m vllm.entrypoints.openai.api_server`) runs with its
GLM-4.7 tool and reasoning parsers, so that it does the work glm-serve does. All use the same engine
settings (compiled, prefix caching), one server at a time, in turn (`--rounds 2`: A B A B, the medians
reported). Prints output tok/s and TTFT p50/p99 per server and level, then the ratios: glm-serve /
vllm serve, and the share of the engine-alone throughput each server keeps.
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
from pathlib import Path
from typing import Any

from load import Result, completion_tokens, drive, raw_post, serve, stop

from server.backends.local.tiny_model import TINY_MODEL_DIR, build

PY = sys.executable
PORTS = {"glm-serve": 8301, "vllm": 8302}
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


async def over_http(port: int, levels: list[int]) -> dict[int, Result]:
    async def one(i: int) -> tuple[float, int]:
        ex = await raw_post("127.0.0.1", port, "/v1/chat/completions", body(i))
        return ex.ttft, completion_tokens(ex)

    return {c: await drive(one, c, requests_for(c)) for c in levels}


def engine_alone(model: Path, levels: list[int]) -> dict[int, Result]:
    """AsyncLLM in this process, with the prompt glm-serve would render."""
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

        async def one(i: int) -> tuple[float, int]:
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
            return ttft, n

        try:
            return {c: await drive(one, c, requests_for(c)) for c in levels}
        finally:
            engine.shutdown()

    return asyncio.run(run())


def phase(args: list[str]) -> dict[int, Result]:
    """Run one measurement in a fresh process (nothing left over from the previous one)."""
    out = subprocess.run([PY, __file__, *args], check=True, capture_output=True, text=True).stdout
    data = json.loads(out.strip().splitlines()[-1])
    return {int(c): Result(r["tokens"], r["seconds"], r["ttfts"]) for c, r in data.items()}


def dump(results: dict[int, Result]) -> None:
    print(
        json.dumps(
            {c: {"tokens": r.tokens, "seconds": r.seconds, "ttfts": r.ttfts} for c, r in results.items()}
        )
    )


def server_command(name: str, model: Path) -> list[str]:
    """glm-serve, or vLLM's own server with its GLM-4.7 tool and reasoning parsers, on the same engine."""
    port = str(PORTS[name])
    if name == "glm-serve":
        cmd = [PY, "-m", "server", "serve", "--model", str(model), "--backend", "local"]
        cmd += ["--served-model-name", "glm-bench", "--port", port, "--log-level", "warning"]
        # On CPU glm-serve lowers its session's scheduling weight so that the engine's spinning never
        # starves other sessions' clients (backends/local/sharing.py); here the load generator is such a
        # client, and vllm serve keeps the default weight: the same for both.
        cmd += ["--cpu-session-nice", "0"]
    else:
        cmd = [PY, "-m", "vllm.entrypoints.openai.api_server", "--model", str(model)]
        cmd += ["--served-model-name", "glm-bench", "--port", port, "--enable-prefix-caching"]
        cmd += ["--enable-auto-tool-choice", "--tool-call-parser", "glm47", "--reasoning-parser", "glm45"]
        cmd += ["--uvicorn-log-level", "warning"]
    cmd += ["--max-model-len", str(ENGINE["max_model_len"])]
    return [*cmd, "--gpu-memory-utilization", str(ENGINE["gpu_memory_utilization"])]


def over_server(name: str, model: Path, levels: list[int]) -> dict[int, Result]:
    proc = serve(server_command(name, model), f"http://127.0.0.1:{PORTS[name]}/health", dict(os.environ))
    try:
        return phase(["--phase", "http", "--port", str(PORTS[name]), "--concurrency", *map(str, levels)])
    finally:
        stop(proc)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=TINY_MODEL_DIR)
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 32, 64])
    ap.add_argument("--servers", default="glm-serve,vllm", help="glm-serve and/or vllm, measured in turn")
    ap.add_argument("--rounds", type=int, default=1, help="how many times each server is measured, in turn")
    ap.add_argument("--phase", choices=["engine", "http"], help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    levels = args.concurrency
    if args.phase == "engine":
        dump(engine_alone(args.model, levels))
        return
    if args.phase == "http":
        # The client gets the core vLLM leaves to the API process, away from the engine's core.
        os.sched_setaffinity(0, {max(os.sched_getaffinity(0))})
        dump(asyncio.run(over_http(args.port, levels)))
        return
    if not (args.model / "config.json").exists():
        build(args.model)
    os.environ["VLLM_CPU_KVCACHE_SPACE"] = "2"
    names = args.servers.split(",")
    engine = phase(["--phase", "engine", "--model", str(args.model), "--concurrency", *map(str, levels)])
    print("  measured the engine alone", file=sys.stderr)
    runs: dict[str, list[dict[int, Result]]] = {n: [] for n in names}
    for r in range(args.rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            runs[name].append(over_server(name, args.model, levels))
            print(f"  measured {name}, round {r + 1}", file=sys.stderr)

    def tok_s(name: str, c: int) -> float:
        return statistics.median(run[c].tok_s for run in runs[name])

    def ttft(name: str, c: int, q: float) -> float:
        return statistics.median(run[c].ttft_ms(q) for run in runs[name])

    print(
        f"\n{OUT_TOKENS} output tokens per request, ignore_eos, tools + reasoning on; "
        f"model {args.model.name}; {args.rounds} round(s), medians"
    )
    heads = "".join(f" | {name + ' tok/s':>15} {'TTFT p50/p99 ms':>16}" for name in names)
    print(f"{'conc':>4} | {'engine tok/s':>12}{heads}")
    for c in levels:
        cells = "".join(
            f" | {tok_s(n, c):>15.0f} {ttft(n, c, 0.5):>7.0f}/{ttft(n, c, 0.99):<8.0f}" for n in names
        )
        print(f"{c:>4} | {engine[c].tok_s:>12.0f}{cells}")
    print()
    for c in levels:
        kept = ", ".join(f"{n} {tok_s(n, c) / engine[c].tok_s:.0%}" for n in names)
        line = f"c={c}: of the engine-alone throughput, {kept} kept"
        if "glm-serve" in names and "vllm" in names:
            line += f"; glm-serve / vllm serve = {tok_s('glm-serve', c) / tok_s('vllm', c):.2f}x"
        print(line)


if __name__ == "__main__":
    main()
