"""Shared fixtures: a real uvicorn server on a free local port, in a background thread."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from server.http.transport import ResettableHttpTools
from server.standin.hosted import create_standin

# The servers tests start keep their state (the Responses signing key) here, not in the user's data
# directory; servers started as processes inherit it.
TEST_STATE = Path(tempfile.mkdtemp(prefix="glm-serve-test-state-"))
os.environ["XDG_DATA_HOME"] = str(TEST_STATE)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def live_server(
    app: FastAPI, ready_path: str = "/v1/models", timeout: float = 300, headers: dict[str, str] | None = None
) -> Iterator[str]:
    """Serve `app` over real HTTP on 127.0.0.1; yields the base URL once `ready_path` answers 200."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", http=ResettableHttpTools)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                r = httpx.get(base + ready_path, headers=headers, timeout=5)
                if r.status_code == 200:
                    break
                if ready_path == "/health" and "failed" in r.json().get("detail", ""):
                    raise RuntimeError(f"backend failed to start: {r.json()['detail']}")
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError(f"server did not become ready on {base}{ready_path}")
            time.sleep(0.2)
        yield base
    finally:
        server.should_exit = True
        thread.join(timeout=60)


@contextmanager
def live_standin(app: FastAPI, key: str) -> Iterator[str]:
    """A hosted-API stand-in (server.standin.hosted) over real HTTP; yields its API base (…/api/paas/v4)."""
    headers = {"Authorization": f"Bearer {key}"}
    with live_server(app, ready_path="/api/paas/v4/models", headers=headers) as base:
        yield base + "/api/paas/v4"


def tcp_state(server_port: int, client_port: int) -> str | None:
    """The TCP state (hex, as /proc/net/tcp writes it: 01 established) of a local server's end of the
    connection from `client_port`, or None when the kernel holds no such socket."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, remote, state = line.split()[1:4]
        if int(local.split(":")[1], 16) == server_port and int(remote.split(":")[1], 16) == client_port:
            return state
    return None


STANDIN_KEY = "0123456789abcdef.standin"


@pytest.fixture(scope="module")
def standin() -> Iterator[tuple[str, FastAPI]]:
    """The hosted-API stand-in over real HTTP for a module, keyed STANDIN_KEY: (its API base, its app)."""
    app = create_standin(api_key=STANDIN_KEY)
    with live_standin(app, STANDIN_KEY) as base:
        yield base, app


ROOT = Path(__file__).resolve().parents[1]  # the checkout


@contextmanager
def server_process(
    args: list[str], log: Path, env: dict[str, str] | None = None, timeout: float = 600
) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """`glm-serve serve ARGS` in a process of its own, on a free port, its output in `log`; yields the
    process and its base URL once /health answers 200. Whatever is left of it is killed at the end."""
    port = free_port()
    cmd = [sys.executable, "-m", "server", "serve", *args, "--port", str(port)]
    with log.open("w") as sink:
        # Its own session: a signal sent to it reaches the server alone, as `docker stop` sends it.
        proc = subprocess.Popen(
            cmd, stdout=sink, stderr=subprocess.STDOUT, cwd=ROOT, env=env, start_new_session=True
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if httpx.get(base + "/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, f"not healthy within {timeout} s"
            time.sleep(0.5)
        yield proc, base
    finally:
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # the server and any engine process still in its group
        proc.wait(10)


REFERENCE = ROOT.parent / "shared" / "reference"


def tiny_model_dir() -> Path:
    """The tiny GLM (built on first use, ~6 s)."""
    from server.backends.local.tiny_model import TINY_MODEL_DIR, build

    if not (TINY_MODEL_DIR / "model.safetensors").exists():
        build(TINY_MODEL_DIR)
    return TINY_MODEL_DIR
