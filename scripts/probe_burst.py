"""Burst: how fast refusals come when a burst of streamed requests meets the queue bound.

    .venv/bin/python scripts/probe_burst.py [--bursts 256 2048] [--batch 8] [--rounds 3]

A glm-serve app with the fake backend runs in a process of its own: it serves `--batch` streams at once
with no queue behind them (`max_queued_requests: 0`), each admitted stream held open. The script sends
each burst of streamed chat requests at once over raw sockets and reports how long the refusals took
(request sent to the whole 429 answer read): p50, p99 and max, and how many were admitted. A figure of
this machine, not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time

from load import cpu_seconds, pct, serve, stop

PORT = 8421
SERVER = """
import uvicorn
from server.app import create_app
from server.backends.fake import FakeBackend
from server.settings import Settings

backend = FakeBackend("word " * 10_000, model="glm-test", delay=5.0, batch={batch})  # admitted: held, idle
app = create_app(Settings(backend="fake", max_queued_requests=0, log_level="warning"), backend)
uvicorn.run(app, host="127.0.0.1", port={port}, log_level="warning", backlog=4096)
"""
BODY = json.dumps(
    {
        "model": "glm-test",
        "messages": [{"role": "user", "content": "hi"}],
        "max_tokens": 10_000,
        "stream": True,
    }
).encode()
HEAD = (
    f"POST /v1/chat/completions HTTP/1.1\r\nhost: burst\r\ncontent-type: application/json\r\n"
    f"content-length: {len(BODY)}\r\nconnection: close\r\n\r\n"
).encode()


async def one(held: list[asyncio.StreamWriter]) -> tuple[int, float]:
    """One request: its status and how long its answer took (a 200 is kept open, read no further)."""
    start = time.perf_counter()
    reader, writer = await asyncio.open_connection("127.0.0.1", PORT)
    writer.write(HEAD + BODY)
    status = int((await reader.readline()).split()[1])
    if status == 200:
        held.append(writer)
        return status, time.perf_counter() - start
    await reader.read()  # to the end of the refusal (connection: close)
    writer.close()
    return status, time.perf_counter() - start


async def burst(n: int) -> tuple[list[float], int]:
    held: list[asyncio.StreamWriter] = []
    answers = await asyncio.gather(*(one(held) for _ in range(n)))
    for writer in held:
        writer.close()
    await asyncio.sleep(1.0)  # the held streams are ended and the gate empties before the next burst
    refused = [seconds for status, seconds in answers if status == 429]
    others = {status for status, _ in answers} - {200, 429}
    if others:
        raise RuntimeError(f"unexpected statuses {others}")
    return refused, len(held)


def refusal_cost(n: int = 20_000) -> float:
    """Seconds the admission middleware spends on one refusal, in this process (a full gate, no I/O)."""
    from server.app import error_answer
    from server.http.admission import Admission
    from server.http.gate import Gate
    from server.http.metrics import Metrics

    gate = Gate(Metrics(), lambda: 1, 0)
    gate.in_flight = 1
    admission = Admission(None, gate, ["/v1/chat/completions"], None, error_answer)  # type: ignore[arg-type]
    scope = {"type": "http", "method": "POST", "path": "/v1/chat/completions", "headers": []}

    async def send(message: object) -> None:
        return None

    async def run() -> float:
        start = time.perf_counter()
        for _ in range(n):
            await admission(scope, None, send)  # type: ignore[arg-type]
        return (time.perf_counter() - start) / n

    return asyncio.run(run())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bursts", type=int, nargs="+", default=[256, 2048])
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    code = SERVER.format(batch=args.batch, port=PORT)
    proc = serve([sys.executable, "-c", code], f"http://127.0.0.1:{PORT}/health", dict(os.environ))
    try:
        print(f"fake backend, batch {args.batch}, no queue; refusal latency (request sent to 429 read):")
        for n in args.bursts:
            for r in range(args.rounds):
                cpu = cpu_seconds(proc.pid)
                started = time.perf_counter()
                refused, admitted = asyncio.run(burst(n))
                wall = time.perf_counter() - started - 1.0  # less the pause after the burst
                cpu = cpu_seconds(proc.pid) - cpu
                ms = [s * 1000 for s in refused]
                print(
                    f"  burst {n:>5} round {r + 1}: {admitted} admitted, {len(refused)} refused; "
                    f"p50 {pct(ms, 0.5):6.1f} ms  p99 {pct(ms, 0.99):6.1f} ms  max {max(ms):6.1f} ms  "
                    f"mean {statistics.mean(ms):6.1f} ms; burst {wall:5.2f} s, server CPU "
                    f"{cpu * 1e6 / n:5.0f} µs a request"
                )
    finally:
        stop(proc)
    try:
        cost = refusal_cost()
    except ImportError:  # a glm-serve from before the admission middleware (for a before/after figure)
        return
    print(f"the admission middleware's own refusal (in-process, no I/O): {cost * 1e6:.1f} µs")


if __name__ == "__main__":
    main()
