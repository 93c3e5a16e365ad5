"""The benchmarks' one client and one load generator, and starting and stopping the servers they measure.

A hand-written HTTP/1.1 exchange keeps the client's CPU use far below an HTTP library's, so that it
takes as little as possible from the servers under test, and the same from each. `drive` keeps a fixed
number of requests in flight (a closed loop), after a warm-up wave.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx

# Generated text in a chunk: chat's reasoning, tool calls or non-empty content (not the role chunk), or
# a Responses text, reasoning or arguments delta.
_OUTPUT = re.compile(rb'"reasoning|"tool_calls"|"content":"[^"]|\.delta"')
_TOKENS = re.compile(rb'"(?:completion|output)_tokens":(\d+)')


@dataclass
class Exchange:
    raw: bytes  # the whole HTTP response
    ttfb: float  # seconds to the first byte of the response
    ttft: float  # seconds to the first chunk with generated text
    total: float  # seconds to the end of the response


async def raw_post(
    host: str, port: int, path: str, body: dict[str, Any], headers: dict[str, str] | None = None
) -> Exchange:
    """One request over a raw socket, read to EOF (Connection: close)."""
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
            if _OUTPUT.search(tail + data):
                ttft = time.perf_counter() - start
            tail = data[-32:]
    total = time.perf_counter() - start
    writer.close()
    raw = b"".join(parts)
    if not raw.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(raw[:300].decode(errors="replace"))
    return Exchange(raw, ttfb, ttft, total)


def completion_tokens(ex: Exchange) -> int:
    """The generated-token count of a streamed response's usage (chat's or Responses'), from the bytes."""
    counts = _TOKENS.findall(ex.raw)
    if not counts:
        raise RuntimeError("the response carried no usage")
    return int(counts[-1])


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


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


@dataclass
class Result:
    """One load level: the tokens generated, the wall time, and each request's time to first token."""

    tokens: int
    seconds: float
    ttfts: list[float]

    @property
    def tok_s(self) -> float:
        return self.tokens / self.seconds

    def ttft_ms(self, q: float) -> float:
        return pct(self.ttfts, q) * 1000


# One request: its time to the first generated token and its generated-token count.
Request = Callable[[int], Awaitable[tuple[float, int]]]


async def drive(one: Request, concurrency: int, requests: int) -> Result:
    """Warm up, then keep `concurrency` requests in flight until `requests` are done.

    The warm-up is a full wave at this concurrency: a compiled engine meets its batch shapes there (a
    first batch of 64 once stalled a server for 10 s), not inside the measurement. `one(i)` gets a
    negative i for the warm-up.
    """
    await asyncio.gather(*(one(-i) for i in range(1, concurrency + 1)))
    queue = list(range(requests))
    results: list[tuple[float, int]] = []

    async def worker() -> None:
        while queue:
            results.append(await one(queue.pop()))

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - start
    return Result(sum(n for _, n in results), elapsed, [t for t, _ in results])
