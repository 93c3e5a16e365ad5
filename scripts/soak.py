"""Soak: many mixed requests of every wire against one glm-serve process, its memory sampled as they go.

    python scripts/soak.py --backend fake --requests 10000
    python scripts/soak.py --backend hosted --requests 10000   # through the offline stand-in

It starts `glm-serve serve` (and, for `hosted`, `glm-serve mock-hosted` as the upstream), sends a
warm-up, then N requests cycling through chat completions (streamed and not, with tools), text
completions, Anthropic messages (streamed and not) and count_tokens, Responses (streamed and not), and
requests that must fail (unknown model, bad JSON, a 413 body, an invalid tool schema), `--concurrency`
at a time. The server's RSS is read from /proc after the warm-up and every 1,000 requests. A figure, not a
test: the issue's bound is growth under 10 MB over 10,000 requests.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
KEY = "soak-upstream-key"
USER = [{"role": "user", "content": "What is the weather in Paris?"}]
TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def mix(model: str) -> list[tuple[str, Any, int]]:
    """(path, JSON body or raw bytes, the status it must get), one round of every kind."""
    chat = {"model": model, "messages": USER, "max_tokens": 40}
    claude = {"model": model, "messages": USER, "max_tokens": 40}
    bad_tool = {**TOOL, "function": {**TOOL["function"], "parameters": {"type": "objekt"}}}
    return [
        ("/v1/chat/completions", chat, 200),
        ("/v1/chat/completions", {**chat, "stream": True, "stream_options": {"include_usage": True}}, 200),
        ("/v1/chat/completions", {**chat, "stream": True, "tools": [TOOL]}, 200),
        ("/v1/messages", claude, 200),
        ("/v1/messages", {**claude, "stream": True}, 200),
        ("/v1/messages/count_tokens", {"model": model, "messages": USER}, 200),
        ("/v1/responses", {"model": model, "input": "hi", "store": False}, 200),
        ("/v1/responses", {"model": model, "input": "hi", "stream": True}, 200),
        ("/v1/chat/completions", {**chat, "model": "no-such-model"}, 404),
        ("/v1/chat/completions", b'{"model": ', 400),
        ("/v1/chat/completions", {**chat, "tools": [bad_tool]}, 400),
        ("/v1/chat/completions", {**chat, "messages": [{"role": "user", "content": "x" * 1_100_000}]}, 413),
    ]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def wait_ready(url: str, proc: subprocess.Popen[bytes], headers: dict[str, str] | None = None) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(url, headers=headers, timeout=2).status_code == 200:
                return
        if proc.poll() is not None:
            sys.exit(f"exited before it was ready: {proc.args}")
        time.sleep(0.3)
    sys.exit(f"not ready: {url}")


def start(args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "server", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
        cwd=ROOT,
        start_new_session=True,
    )


async def run(base: str, model: str, total: int, concurrency: int, pid: int) -> list[tuple[int, float]]:
    rounds = itertools.cycle(mix(model))
    samples: list[tuple[int, float]] = []
    wrong: dict[str, int] = {}
    done = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as client:

        async def one(path: str, body: Any, want: int) -> None:
            nonlocal done
            kwargs: dict[str, Any] = {"content": body} if isinstance(body, bytes) else {"json": body}
            try:
                async with client.stream("POST", path, **kwargs) as r:
                    async for _ in r.aiter_bytes():
                        pass
                status = r.status_code
            except httpx.TransportError:
                # A body over the limit is refused unread and its connection closed: the client may see
                # the reset while still sending, before it reads the 413.
                status = 413 if want == 413 else 0
            if status != want:
                key = f"{path} {status} (wanted {want})"
                wrong[key] = wrong.get(key, 0) + 1
            done += 1

        async def worker(count: int) -> None:
            for _ in range(count):
                await one(*next(rounds))

        async def sampler() -> None:
            while True:
                samples.append((done, rss_mb(pid)))
                await asyncio.sleep(0.5)

        sampling = asyncio.create_task(sampler())
        step = 1000
        for start in range(0, total, step):
            n = min(step, total - start)
            await asyncio.gather(
                *(worker(n // concurrency + (i < n % concurrency)) for i in range(concurrency))
            )
            samples.append((done, rss_mb(pid)))
            print(f"  {done:>6} requests   RSS {samples[-1][1]:7.1f} MB", flush=True)
        sampling.cancel()
    if wrong:
        print("  unexpected statuses:", wrong)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("fake", "hosted"), default="fake")
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--warmup", type=int, default=1_000)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()

    env = {**os.environ}
    procs: list[subprocess.Popen[bytes]] = []
    port = free_port()
    serve = ["serve", "--port", str(port), "--backend", args.backend, "--max-body-mb", "1"]
    serve += ["--log-level", "warning"]
    try:
        if args.backend == "hosted":
            up = free_port()
            standin = start(["mock-hosted", "--port", str(up), "--api-key", KEY], env)
            procs.append(standin)
            wait_ready(
                f"http://127.0.0.1:{up}/api/paas/v4/models", standin, {"Authorization": f"Bearer {KEY}"}
            )
            env |= {"BIGMODEL_API_KEY": KEY, "BIGMODEL_BASE_URL": f"http://127.0.0.1:{up}/api/paas/v4"}
        server = start(serve, env)
        procs.append(server)
        base = f"http://127.0.0.1:{port}"
        wait_ready(base + "/health", server)
        model = httpx.get(base + "/v1/models").json()["data"][0]["id"]
        print(f"glm-serve --backend {args.backend}, pid {server.pid}: warm-up of {args.warmup} requests")
        asyncio.run(run(base, model, args.warmup, args.concurrency, server.pid))
        before = rss_mb(server.pid)
        print(
            f"soak: {args.requests} requests, {args.concurrency} at a time; RSS after warm-up {before:.1f} MB"
        )
        start_time = time.monotonic()
        samples = asyncio.run(run(base, model, args.requests, args.concurrency, server.pid))
        took = time.monotonic() - start_time
        after = rss_mb(server.pid)
        peak = max(mb for _, mb in samples)
        print(
            f"\n{args.requests} requests in {took:.0f} s ({args.requests / took:.0f}/s): RSS {before:.1f} -> "
            f"{after:.1f} MB, growth {after - before:+.1f} MB, peak {peak:.1f} MB"
        )
    finally:
        for proc in procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            proc.wait(30)


if __name__ == "__main__":
    main()
