"""The hosted backend's HTTP client alone: aiohttp as glm-serve sets it up, httpx, and the hand-written
HTTP/1.1 client aiohttp replaced, streaming the same answers from the hosted-API stand-in.

    .venv/bin/python scripts/bench_http_clients.py [--requests 500] [--rounds 3]

Each client sends a streamed chat completion and reads its body to the end over a kept-alive
connection, `--requests` times in a row, in this process; the clients take turns, round after round
(the order rotated each round). Prints each one's CPU time per request of this process (the stand-in
runs in its own) and its wall-clock p50, as medians over the rounds, and each as a ratio to aiohttp's
measured in the same rounds. The previous client is read from git (`git show
8a24093^:server/backends/remote/http1.py`), as it was the day aiohttp replaced it.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import uvloop
from load import pct, serve, stop

from server.backends.remote.http_session import HttpSession

ROOT = Path(__file__).resolve().parent.parent
KEY = "0123456789abcdef0123456789abcdef.benchkey"
PORT = 8421
BASE = f"http://127.0.0.1:{PORT}/api/paas/v4"
BODY = json.dumps(
    {"model": "glm-4.7", "messages": [{"role": "user", "content": "Say hello."}], "stream": True}
).encode()
HEADERS = {"Content-Type": "application/json", "Accept": "text/event-stream"}
PREVIOUS = "8a24093^:server/backends/remote/http1.py"

Exchange = Callable[[], Awaitable[int]]  # one streamed request, read to its end: the bytes read


def previous_client() -> Any:
    """The hand-written HTTP/1.1 pool, loaded from git as a module of its own."""
    source = subprocess.run(["git", "show", PREVIOUS], cwd=ROOT, capture_output=True, check=True).stdout
    path = Path(tempfile.mkdtemp()) / "http1.py"
    path.write_bytes(source)
    spec = importlib.util.spec_from_file_location("previous_http1", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def clients() -> dict[str, tuple[Exchange, Callable[[], Awaitable[None]]]]:
    """Each client's exchange and its close."""
    auth = {"Authorization": f"Bearer {KEY}"}
    session = HttpSession(BASE, auth, 60.0)

    async def with_aiohttp() -> int:
        response = await session.post("/chat/completions", BODY, HEADERS)
        return sum(len(p) for p in [piece async for piece in response.pieces()])

    client = httpx.AsyncClient(base_url=BASE, headers=auth, timeout=60.0)

    async def with_httpx() -> int:
        async with client.stream("POST", "/chat/completions", content=BODY, headers=HEADERS) as response:
            return sum([len(p) async for p in response.aiter_raw()])

    found: dict[str, tuple[Exchange, Callable[[], Awaitable[None]]]] = {
        "aiohttp": (with_aiohttp, session.aclose),
        "httpx": (with_httpx, client.aclose),
    }
    try:
        pool = previous_client().Http1Pool(BASE, auth, 60.0)
    except subprocess.CalledProcessError:
        print(f"(no previous client: `git show {PREVIOUS}` failed; a shallow clone?)", file=sys.stderr)
    else:

        async def with_previous() -> int:
            response = await pool.post("/chat/completions", BODY, HEADERS)
            return sum(len(p) for p in [piece async for piece in response.pieces()])

        found["previous"] = (with_previous, pool.aclose)
    return found


async def run(requests: int, rounds: int) -> dict[str, list[tuple[float, float]]]:
    """Per client and round: (CPU seconds per request, wall p50 seconds)."""
    found = await clients()
    names = list(found)
    results: dict[str, list[tuple[float, float]]] = {n: [] for n in names}
    for name in names:  # warm-up: connections, imports, caches
        for _ in range(20):
            await found[name][0]()
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            exchange = found[name][0]
            walls = []
            cpu = time.process_time()
            for _ in range(requests):
                start = time.perf_counter()
                if not await exchange():
                    raise RuntimeError(f"{name}: an empty answer")
                walls.append(time.perf_counter() - start)
            results[name].append(((time.process_time() - cpu) / requests, pct(walls, 0.5)))
    for _, close in found.values():
        await close()
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=500)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    env = {**os.environ, "BIGMODEL_API_KEY": KEY}
    cmd = [sys.executable, "-m", "server", "mock-hosted", "--port", str(PORT), "--api-key", KEY]
    standin = serve(cmd, f"{BASE}/models", env, {"Authorization": f"Bearer {KEY}"})
    try:
        results = uvloop.run(run(args.requests, args.rounds))
    finally:
        stop(standin)
    print(f"{args.requests} sequential streamed requests per client and round, {args.rounds} rounds")
    print(f"{'client':<10} {'CPU µs/request':>15} {'wall p50 µs':>12} {'CPU vs aiohttp':>15}")
    base = [cpu for cpu, _ in results["aiohttp"]]
    for name, rows in results.items():
        ratio = statistics.median(cpu / b for (cpu, _), b in zip(rows, base, strict=True))
        print(
            f"{name:<10} {statistics.median(c for c, _ in rows) * 1e6:>15.0f} "
            f"{statistics.median(w for _, w in rows) * 1e6:>12.0f} {ratio:>14.2f}x"
        )


if __name__ == "__main__":
    main()
