"""Serving speed: our server vs vLLM's OpenAI server vs the engine alone, same model and load, one run.

    .venv/bin/python scripts/bench_serve.py [--model models/tiny-glm] [--concurrency 1 32 64]

Each request streams a chat completion of exactly 256 tokens (ignore_eos) with a tool defined and
reasoning on, as coding assistants send them; vLLM's server runs with `--tool-call-parser glm47
--reasoning-parser glm45 --enable-auto-tool-choice`. The engine-alone row drives AsyncLLM in-process with
the same prompt and sampling, no HTTP. All three use the same engine settings (compiled, prefix caching).
Prints output tok/s, TTFT p50/p99 and the ratios. The client reads raw SSE bytes so that its own CPU use,
which shares this machine's cores with the servers, stays small and identical for both servers.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

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


def _has_output(window: bytes) -> bool:
    """A chunk with generated text: reasoning, a tool call, or non-empty content (not the role chunk)."""
    return (
        b'"reasoning' in window
        or b'"tool_calls"' in window
        or window.count(b'"content":"') > window.count(b'"content":""')
    )


@dataclass
class Exchange:
    raw: bytes  # the whole HTTP response
    ttfb: float  # seconds to the first byte of the response
    ttft: float  # seconds to the first chunk with generated text
    total: float  # seconds to the end of the response


async def raw_post(
    host: str, port: int, path: str, body: dict[str, Any], headers: dict[str, str] | None = None
) -> Exchange:
    """One request over a raw socket, read to EOF (Connection: close).

    A hand-written HTTP/1.1 exchange keeps the client's CPU use far below an HTTP library's, so that
    it takes as little as possible from the servers under test, and the same from each.
    """
    payload = json.dumps(body).encode()
    extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n{extra}"
        f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n"
    ).encode()
    start = time.perf_counter()
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(head + payload)
    ttft = ttfb = 0.0
    parts: list[bytes] = []
    tail = b""
    while data := await reader.read(65536):
        parts.append(data)
        ttfb = ttfb or time.perf_counter() - start
        if not ttft:
            if _has_output(tail + data):
                ttft = time.perf_counter() - start
            tail = data[-32:]
    total = time.perf_counter() - start
    writer.close()
    raw = b"".join(parts)
    if not raw.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(raw[:300].decode(errors="replace"))
    return Exchange(raw, ttfb, ttft, total)


def completion_tokens(ex: Exchange) -> int:
    """The completion token count of a streamed response's usage chunk, read from the raw bytes."""
    at = ex.raw.rindex(b'"completion_tokens":') + len(b'"completion_tokens":')
    return int(ex.raw[at:].split(b",", 1)[0].split(b"}", 1)[0])


async def one_stream(host: str, port: int, i: int) -> tuple[float, int, float]:
    """One benchmark request: time to the first generated text, the token count, time to first byte."""
    ex = await raw_post(host, port, "/v1/chat/completions", body(i))
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


async def http_load(base: str, concurrency: int) -> Result:
    host, port = base.split("//")[1].split(":")
    return await drive(lambda i: one_stream(host, int(port), i), concurrency)


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


def serve(
    cmd: list[str], ready: str, env: dict[str, str], headers: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Start a server in its own process group; return once `ready` answers below 500."""
    proc = subprocess.Popen(
        cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {' '.join(cmd)}")
        try:
            if httpx.get(ready, headers=headers, timeout=2).status_code < 500:
                return proc
        except httpx.TransportError:
            pass
        time.sleep(1)
    raise RuntimeError("server did not start")


def stop(proc: subprocess.Popen[bytes]) -> None:
    os.killpg(proc.pid, signal.SIGINT)
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)


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


def measure_server(name: str, cmd: list[str], port: int, levels: list[int]) -> dict[int, Result]:
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "2"}
    proc = serve(cmd, f"http://127.0.0.1:{port}/health", env)
    try:
        return phase(
            ["--phase", "load", "--url", f"http://127.0.0.1:{port}", "--concurrency", *map(str, levels)]
        )
    finally:
        stop(proc)
        print(f"  measured {name}", file=sys.stderr)


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
    ap.add_argument("--model", type=Path, default=ROOT / "models" / "tiny-glm")
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 32, 64])
    ap.add_argument("--ttft-pairs", type=int, default=40, help="interleaved concurrency-1 TTFT requests")
    ap.add_argument("--phase", choices=["engine", "load"], help=argparse.SUPPRESS)
    ap.add_argument("--url", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.phase == "engine":
        dump(engine_alone(args.model, args.concurrency))
        return
    if args.phase == "load":
        # The client gets the core vLLM leaves to the API process, away from the engine's core.
        os.sched_setaffinity(0, {max(os.sched_getaffinity(0))})
        dump({c: asyncio.run(http_load(args.url, c)) for c in args.concurrency})
        return
    if not (args.model / "config.json").exists():
        subprocess.run([PY, str(ROOT / "scripts" / "make_tiny_glm.py"), str(args.model)], check=True)
    os.environ["VLLM_CPU_KVCACHE_SPACE"] = "2"
    levels = args.concurrency
    engine_args = [
        "--max-model-len",
        str(ENGINE["max_model_len"]),
        "--gpu-memory-utilization",
        str(ENGINE["gpu_memory_utilization"]),
    ]
    ours_cmd = [
        PY,
        "-m",
        "server",
        "serve",
        "--model",
        str(args.model),
        "--backend",
        "local",
        "--served-model-name",
        "glm-bench",
        "--port",
        "8301",
        "--log-level",
        "warning",
        *engine_args,
    ]
    vllm_cmd = [
        PY,
        "-m",
        "vllm.entrypoints.openai.api_server",
        "--model",
        str(args.model),
        "--served-model-name",
        "glm-bench",
        "--port",
        "8302",
        "--tool-call-parser",
        "glm47",
        "--reasoning-parser",
        "glm45",
        "--enable-auto-tool-choice",
        "--uvicorn-log-level",
        "warning",
        *engine_args,
    ]

    results = {
        "engine": phase(["--phase", "engine", "--model", str(args.model), "--concurrency", *map(str, levels)])
    }
    print("  measured engine alone", file=sys.stderr)
    results["ours"] = measure_server("glm-serve", ours_cmd, 8301, levels)
    results["vllm"] = measure_server("vLLM server", vllm_cmd, 8302, levels)

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
