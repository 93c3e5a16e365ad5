"""The front end alone: what a streamed token costs glm-serve's own process, on each wire.

    .venv/bin/python scripts/bench_frontend.py [--concurrency 1 64 256] [--requests 64] [--rounds 3]
    .venv/bin/python scripts/bench_frontend.py --profile chat --concurrency 64 --rounds 1

The fake backend emits its script as fast as the event loop takes it (every piece a token, through the
real GLM parser, as the local backend's output goes), behind the whole app as `glm-serve serve` builds
it (middleware, admission, the same HTTP protocol). So the server process does everything it does for a
real engine but wait for it: its CPU time per streamed token is the front end's cost, and tokens per
CPU-second how many a GPU box may stream before our process is what it waits on. Chat completions,
Messages and Responses stream the same answer at each concurrency, in alternating rounds (the order
rotated each round); the figures are medians over the rounds, and Messages and Responses are also
given as ratios to chat measured in the same rounds, with what each costs per request beyond chat's.
`--profile WIRE` samples the server with py-spy, streams that wire only, and prints where its CPU went,
stage by stage, in µs per streamed token and per request.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from load import Spy, completion_tokens, cpu_seconds, print_hottest, print_stages, raw_post, serve, stop

PORT = 8311
# A coding assistant's answer: some reasoning, then prose; ~1,000 pieces of at most four characters.
REASONING = "The user wants the function fixed; the loop bound is off by one, so I check the tests. " * 10
ANSWER = "The loop ran one step too far: the bound is now `len(items) - 1`, and the test passes. " * 34
LAUNCH = f"""
import uvicorn
from server.app import create_app
from server.backends.fake import FakeBackend
from server.http.transport import ResettableHttpTools
from server.settings import Settings
fake = FakeBackend({REASONING + "</think>" + ANSWER!r}, model="glm-bench")
app = create_app(Settings(backend="fake"), fake)
uvicorn.run(app, host="127.0.0.1", port={PORT}, log_level="warning", http=ResettableHttpTools)
"""
USER = "Fix the failing test in tests/test_loop.py."
WIRES: dict[str, tuple[str, dict[str, Any]]] = {
    "chat": (
        "/v1/chat/completions",
        {
            "model": "glm-bench",
            "stream": True,
            "stream_options": {"include_usage": True},
            "messages": [{"role": "user", "content": USER}],
        },
    ),
    "messages": (
        "/v1/messages",
        {
            "model": "glm-bench",
            "stream": True,
            "max_tokens": 4096,
            "messages": [{"role": "user", "content": USER}],
        },
    ),
    "responses": ("/v1/responses", {"model": "glm-bench", "stream": True, "input": USER}),
}


@dataclass
class Phase:
    requests: int
    tokens: int
    cpu: float  # the server process's CPU seconds
    wall: float
    warm_up_tokens: int  # streamed before the measurement (a profile holds them too)

    @property
    def per_cpu_second(self) -> float:
        return self.tokens / self.cpu

    @property
    def us_per_token(self) -> float:
        return self.cpu / self.tokens * 1e6

    @property
    def us_per_request(self) -> float:
        return self.cpu / self.requests * 1e6


async def phase(pid: int, wire: str, concurrency: int, requests: int) -> Phase:
    path, body = WIRES[wire]

    async def one() -> int:
        return completion_tokens(await raw_post("127.0.0.1", PORT, path, body))

    warm = await asyncio.gather(*(one() for _ in range(min(concurrency, 16))))
    queue = list(range(requests))
    counts: list[int] = []

    async def worker() -> None:
        while queue:
            queue.pop()
            counts.append(await one())

    cpu, start = cpu_seconds(pid), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return Phase(requests, sum(counts), cpu_seconds(pid) - cpu, time.perf_counter() - start, sum(warm))


async def run(
    pid: int, levels: list[int], requests: int, rounds: int, wires: list[str]
) -> dict[tuple[str, int], list[Phase]]:
    found: dict[tuple[str, int], list[Phase]] = {}
    for level in levels:
        n = max(requests, level)
        for r in range(rounds):
            for wire in wires[r % len(wires) :] + wires[: r % len(wires)]:
                found.setdefault((wire, level), []).append(await phase(pid, wire, level, n))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 64, 256])
    parser.add_argument("--requests", type=int, default=64, help="streamed requests per phase (at least c)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", choices=list(WIRES), help="profile the server on this wire alone")
    args = parser.parse_args()
    wires = [args.profile] if args.profile else list(WIRES)
    work = Path(tempfile.mkdtemp(prefix="bench-frontend-"))
    (work / "launch.py").write_text(LAUNCH)
    command = [sys.executable, str(work / "launch.py")]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = serve(command, f"http://127.0.0.1:{PORT}/health", env=env)
    spied = work / "server.spy"
    try:
        with contextlib.ExitStack() as profiled:
            if args.profile:
                profiled.enter_context(Spy(proc.pid, spied))
            found = asyncio.run(run(proc.pid, args.concurrency, args.requests, args.rounds, wires))
    finally:
        stop(proc)
    print(
        f"{'wire':<10} {'c':>4} {'tokens/CPU-s':>13} {'µs CPU/token':>13} {'tok/s (wall)':>13} "
        f"{'vs chat':>8} {'µs CPU/request':>15} {'+µs vs chat':>12}"
    )
    for level in args.concurrency:
        chat = found[(wires[0], level)]
        for wire in wires:
            phases = found[(wire, level)]
            pairs = list(zip(phases, chat, strict=True))
            ratio = statistics.median(p.per_cpu_second / c.per_cpu_second for p, c in pairs)
            extra = statistics.median(p.us_per_request - c.us_per_request for p, c in pairs)
            print(
                f"{wire:<10} {level:>4} {statistics.median(p.per_cpu_second for p in phases):>13,.0f} "
                f"{statistics.median(p.us_per_token for p in phases):>13.1f} "
                f"{statistics.median(p.tokens / p.wall for p in phases):>13,.0f} {ratio:>8.2f} "
                f"{statistics.median(p.us_per_request for p in phases):>15,.0f} {extra:>12,.0f}"
            )
    if args.profile:
        # The warm-ups are in the profile too: divide by every token and request the server streamed.
        tokens = sum(p.tokens + p.warm_up_tokens for phases in found.values() for p in phases)
        answers = sum(p.requests + min(level, 16) for (_, level), ps in found.items() for p in ps)
        print(f"\nwhere the server's CPU went ({args.profile}; py-spy, {Spy.RATE} samples/s), µs")
        print_stages([("per token", spied, tokens), ("per request", spied, answers)])
        print_hottest(spied, tokens, "token")


if __name__ == "__main__":
    main()
