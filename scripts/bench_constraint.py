"""The cost of constrained decoding: output tok/s with and without a constraint, same server and load.

    .venv/bin/python scripts/bench_constraint.py [--model DIR] [--concurrency 1 16] [--rounds 6]

One glm-serve process (local backend, compiled engine, the tiny GLM, thinking off) serves three kinds of
streamed chat request, in waves of `concurrency` requests that alternate between the kinds, so that the
machine's slow moments fall on all kinds alike:

  free      tools given, tool_choice auto (no constraint), 256 tokens (ignore_eos)
  required  tool_choice required: a GLM tool call held to its schema by an xgrammar structural tag
  json      response_format json_schema: a JSON object with a 300-600 character string, and more

A constrained answer ends when its grammar does, so lengths differ; the figures compared are each
request's tok/s (its tokens / its whole time, grammar compilation included) and the wave's output tok/s
(all tokens / the wave's wall time), with the time to the first token and the mean length beside them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from load import completion_tokens, raw_post, serve, stop

from server.backends.local.tiny_model import TINY_MODEL_DIR

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
PORT = 8311
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather forecast for a city.",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "maxLength": 60},
                "days": {"type": "integer", "minimum": 1, "maximum": 14},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            },
            "required": ["city", "days", "unit"],
        },
    },
}
PERSON = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 40},
        "age": {"type": "integer", "minimum": 0, "maximum": 150},
        "bio": {"type": "string", "minLength": 300, "maxLength": 600},
        "tags": {"type": "array", "items": {"type": "string", "enum": ["a", "b", "c"]}, "maxItems": 4},
    },
    "required": ["name", "age", "bio", "tags"],
    "additionalProperties": False,
}


def body(kind: str, i: int) -> dict[str, Any]:
    req: dict[str, Any] = {
        "model": "glm-bench",
        "messages": [{"role": "user", "content": f"Request {i}: what is the weather in Paris?"}],
        "tools": [WEATHER],
        "stream": True,
        "stream_options": {"include_usage": True},
        "chat_template_kwargs": {"enable_thinking": False},
        "seed": i,
        "max_tokens": 256,
    }
    if kind == "free":
        req["ignore_eos"] = True
    elif kind == "required":
        req["tool_choice"] = "required"
    else:
        req.pop("tools")
        req["max_tokens"] = 1024
        req["response_format"] = {"type": "json_schema", "json_schema": {"name": "person", "schema": PERSON}}
    return req


async def measure(kinds: list[str], concurrency: int, rounds: int) -> dict[str, dict[str, float]]:
    stats: dict[str, dict[str, list[float]]] = {
        k: {"rate": [], "ttft": [], "tok": [], "sec": []} for k in kinds
    }
    seq = 0
    for r in range(rounds + 1):  # round 0 warms every kind up (compiled shapes, grammar caches)
        for kind in kinds:
            ids = range(seq, seq + concurrency)
            seq += concurrency
            start = asyncio.get_running_loop().time()
            exchanges = await asyncio.gather(
                *(raw_post("127.0.0.1", PORT, "/v1/chat/completions", body(kind, i)) for i in ids)
            )
            wall = asyncio.get_running_loop().time() - start
            if r == 0:
                continue
            s = stats[kind]
            for ex in exchanges:
                n = completion_tokens(ex)
                s["rate"].append(n / ex.total)
                s["ttft"].append(ex.ttft * 1000)
                s["tok"].append(n)
            s["sec"].append(wall)
    return {
        k: {
            "request_tok_s_p50": statistics.median(s["rate"]),
            "wave_tok_s": sum(s["tok"]) / sum(s["sec"]),
            "ttft_ms_p50": statistics.median(s["ttft"]),
            "tokens_mean": statistics.mean(s["tok"]),
        }
        for k, s in stats.items()
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=TINY_MODEL_DIR)
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 16])
    ap.add_argument("--rounds", type=int, default=6)
    args = ap.parse_args()
    if not (args.model / "config.json").exists():
        subprocess.run([PY, str(ROOT / "scripts" / "make_tiny_glm.py"), str(args.model)], check=True)
    cmd = [
        PY, "-m", "server", "serve", "--model", str(args.model), "--backend", "local",
        "--served-model-name", "glm-bench", "--port", str(PORT), "--log-level", "warning",
        "--max-model-len", "4096", "--gpu-memory-utilization", "0.3",
    ]  # fmt: skip
    proc = serve(cmd, f"http://127.0.0.1:{PORT}/health", {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "2"})
    kinds = ["free", "required", "json"]
    try:
        results = {c: asyncio.run(measure(kinds, c, args.rounds)) for c in args.concurrency}
    finally:
        stop(proc)
    head = ("conc", "kind", "request tok/s p50", "vs free", "wave tok/s", "vs free", "TTFT p50 ms", "tokens")
    print("{:>4} {:>9} {:>17} {:>8} {:>11} {:>8} {:>12} {:>7}".format(*head))
    for c, by_kind in results.items():
        free = by_kind["free"]
        for kind, m in by_kind.items():
            rate, wave = m["request_tok_s_p50"], m["wave_tok_s"]
            print(
                f"{c:>4} {kind:>9} {rate:>17.0f} {rate / free['request_tok_s_p50']:>7.2f}x"
                f" {wave:>11.0f} {wave / free['wave_tok_s']:>7.2f}x"
                f" {m['ttft_ms_p50']:>12.1f} {m['tokens_mean']:>7.0f}"
            )
    print(json.dumps(results), file=sys.stderr)


if __name__ == "__main__":
    main()
