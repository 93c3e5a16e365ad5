"""Stalls: the largest gap between streamed chunks on the CPU demo, round after round.

    .venv/bin/python scripts/probe_stalls.py [--rounds 10] [--env NAME=VALUE ...] [--py-spy]

Starts `glm-serve serve --model tiny-cpu` (the real engine, the tiny model) and runs `--rounds` rounds of
four 3,000-token streams beside one small request, as an operator's first try of the demo would, and
prints each round's largest gap between two chunks of any stream. The server runs in a session of its own,
as in a terminal of its own. `--env` sets a variable for the server (`GLM_SERVE_CPU_SESSION_NICE=0` shows
the stalls the default prevents); `--py-spy` writes, the first time every stream has been silent for a
second, the connections' socket queues and the stacks of this client and every server process (py-spy,
installed apart). A figure of this machine, not a test.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
from load import serve, stop

PORT = 8431
MODEL = "glm-tiny-demo"


def body(max_tokens: int) -> dict[str, object]:
    return {
        "model": MODEL,
        "messages": [{"role": "user", "content": "hi"}],
        "max_tokens": max_tokens,
        "ignore_eos": True,
        "stream": True,
    }


class Stream(threading.Thread):
    """One streamed request read to its end; `gaps` holds (when, seconds) of every gap between chunks,
    `last` the time of its latest chunk."""

    def __init__(self, max_tokens: int) -> None:
        super().__init__(daemon=True)
        self.max_tokens = max_tokens
        self.gaps: list[tuple[float, float]] = []
        self.last = time.monotonic()

    def run(self) -> None:
        url = f"http://127.0.0.1:{PORT}/v1/chat/completions"
        with httpx.stream("POST", url, json=body(self.max_tokens), timeout=300) as r:
            previous = None
            for line in r.iter_lines():
                if not line:
                    continue
                now = time.monotonic()
                if previous is not None:
                    self.gaps.append((now, now - previous))
                previous = self.last = now


def descendants(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    children = [int(p) for p in out.split()]
    return children + [d for c in children for d in descendants(c)]


def dump(pid: int, into: Path) -> None:
    """py-spy's stacks of the server and every process under it, native frames included, after the
    connections' queues (what the kernel holds unread or unsent on each side)."""
    with into.open("a") as out:
        out.write(
            subprocess.run(
                ["ss", "-tn", f"( sport = :{PORT} or dport = :{PORT} )"], capture_output=True, text=True
            ).stdout
        )
    py_spy = shutil.which("py-spy")
    if py_spy is None:
        print("  (py-spy is not installed: pip install py-spy)")
        return
    with into.open("a") as out:
        for p in [os.getpid(), pid, *descendants(pid)]:  # this client too: is it reading?
            out.write(f"==== pid {p}: {Path(f'/proc/{p}/cmdline').read_bytes()[:120]!r}\n")
            out.flush()
            subprocess.run([py_spy, "dump", "--native", "--pid", str(p)], stdout=out, stderr=out, timeout=60)
    print(f"  a gap passed 1 s: stacks in {into}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--env", action="append", default=[], metavar="NAME=VALUE")
    ap.add_argument("--py-spy", action="store_true")
    args = ap.parse_args()
    env = dict(os.environ)
    env.update(item.split("=", 1) for item in args.env)
    cmd = [sys.executable, "-m", "server", "serve", "--model", "tiny-cpu", "--port", str(PORT)]
    cmd += ["--log-level", "warning"]
    proc = serve(cmd, f"http://127.0.0.1:{PORT}/health", env)
    print(
        f"tiny-cpu demo, {args.rounds} rounds of 4 x 3000-token streams + 1 small request; {args.env or ''}"
    )
    dumped = False
    worst: list[float] = []
    try:
        for r in range(args.rounds):
            streams = [Stream(3000) for _ in range(4)] + [Stream(16)]
            start = time.monotonic()
            for s in streams:
                s.start()
            while any(s.is_alive() for s in streams):
                # In a stall (every running stream silent for a second): what each process is doing.
                silent = time.monotonic() - max(s.last for s in streams if s.is_alive())
                if args.py_spy and not dumped and silent > 1.0:
                    dumped = True
                    dump(proc.pid, Path(f"/tmp/stall-{os.getpid()}.txt"))
                time.sleep(0.05)
            gaps = [g for s in streams for g in s.gaps]
            when, largest = max(gaps, key=lambda g: g[1])
            worst.append(largest)
            print(
                f"  round {r + 1:>2}: largest gap {largest * 1000:7.0f} ms, {when - start:5.1f} s in; "
                f"round took {time.monotonic() - start:5.1f} s"
            )
        print(
            f"largest gap over all rounds: {max(worst) * 1000:.0f} ms; rounds over 1 s: "
            f"{sum(g > 1 for g in worst)} of {len(worst)}"
        )
    finally:
        stop(proc)


if __name__ == "__main__":
    main()
