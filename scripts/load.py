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
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
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
    cmd: list[str],
    ready: str,
    env: dict[str, str],
    headers: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> subprocess.Popen[bytes]:
    """Start a server in its own process group; return once `ready` answers below 500."""
    proc = subprocess.Popen(
        cmd,
        env=env,
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
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


class Spy:
    """py-spy sampling a server process while a phase runs: `with Spy(pid, path):`. Sampling, not
    tracing: the figures are the server's own, not a profiler's overhead on every call (cProfile's
    doubled the hosted path's). Written as py-spy's raw format, one stack and its sample count a line."""

    RATE = 1000  # samples per second

    def __init__(self, pid: int, path: Path) -> None:
        self.pid = pid
        self.path = path
        self._proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Spy:
        spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
        cmd = [spy, "record", "--pid", str(self.pid), "--rate", str(self.RATE), "--format", "raw"]
        cmd += ["--nonblocking", "--output", str(self.path)]  # nonblocking: the server is never paused
        self._proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)  # attached before the phase starts
        return self

    def __exit__(self, *_: object) -> None:
        assert self._proc is not None
        self._proc.send_signal(signal.SIGINT)  # py-spy writes its file on Ctrl-C
        self._proc.wait(60)


# A stage is named by the innermost frame of a sample that matches one of its markers (a function's
# name or file as py-spy writes them, "Gate._guarded (server/http/gate.py:105)"), so that the parser
# called from the renderer counts as the parser and the renderer's own work as rendering.
STAGES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("parser", ("parsers/",)),
    ("fake backend", ("backends/fake.py",)),
    ("render: events to the wire's SSE", ("openai/render.py", "anthropic/render.py", "responses/render.py")),
    ("hosted: chunks to events", ("chunk_events (",)),
    ("hosted: read and JSON-decode chunks", ("ChunkStream.", "Response.pieces")),
    ("hosted: send the request (aiohttp)", ("ChatClient.open", "HttpSession.")),
    ("hosted: request body, retries", ("hosted_api.py", "HostedBackend.")),
    ("gate + metrics", ("Gate.", "Metrics.", "Watch.")),
    ("stream plumbing (prime, replay, tag)", ("core/streams.py",)),
    ("SSE response: batching, writes", ("event_stream.py",)),
    ("request body: read + validate", ("json_body (",)),
    ("convert: wire to core request", ("/convert.py",)),
    ("route: model check, open, respond", ("routes.py", "flow.py", "deps.py", "direct.py")),
    ("our middleware", ("server/http/",)),
    ("FastAPI + Starlette", ("fastapi/", "starlette/")),
    ("HTTP server (uvicorn + httptools)", ("uvicorn/",)),
    ("event loop: callbacks, tasks", ("asyncio/",)),
)
# A sample whose innermost frame is the event loop's run is uvloop's C code, almost all of it waiting in
# epoll (py-spy cannot tell that wait from work without native stacks; perf put uvloop's own work at
# ~4 % of the process): left out.
_IDLE = "Runner.run (asyncio/runners.py"


def _samples(path: Path) -> Iterator[tuple[list[str], int]]:
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        if frames and not frames[-1].startswith(_IDLE):
            yield frames, int(count)


def stages(path: Path, count: int) -> list[tuple[str, float]]:
    """CPU by stage, in µs per one of `count` (requests, tokens), in STAGES' order."""
    totals = dict.fromkeys([name for name, _ in STAGES] + ["other"], 0)
    for frames, n in _samples(path):
        stage = next(
            (name for f in reversed(frames) for name, marks in STAGES if any(m in f for m in marks)),
            "other",
        )
        totals[stage] += n
    return [(name, n / Spy.RATE / count * 1e6) for name, n in totals.items() if n]


def hottest(path: Path, count: int, n: int = 12) -> list[tuple[str, float]]:
    """The `n` functions most often running (the innermost frame), in µs per one of `count`."""
    own: dict[str, int] = {}
    for frames, k in _samples(path):
        own[frames[-1]] = own.get(frames[-1], 0) + k
    rows = sorted(own.items(), key=lambda r: -r[1])[:n]
    return [(where, k / Spy.RATE / count * 1e6) for where, k in rows]


def print_stages(columns: list[tuple[str, Path, int]]) -> None:
    """A table of CPU by stage: one column per (heading, py-spy file, count to divide by)."""
    found = [dict(stages(path, count)) for _, path, count in columns]
    names = [name for name, _ in STAGES] + ["other"]
    rows = [name for name in names if any(name in f for f in found)]
    width = max(len(name) for name in rows)
    print(f"{'stage':<{width}}" + "".join(f" {heading:>18}" for heading, _, _ in columns))
    for name in [*rows, "total"]:
        values = [sum(f.values()) if name == "total" else f.get(name, 0.0) for f in found]
        print(f"{name:<{width}}" + "".join(f" {v:18.2f}" for v in values))


def print_hottest(path: Path, count: int, unit: str) -> None:
    print(f"the functions most often on top, µs per {unit}")
    for where, us in hottest(path, count):
        print(f"  {us:8.2f}  {where}")
