"""Shared fixtures: a real uvicorn server on a free local port, in a background thread."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import uvicorn
from fastapi import FastAPI


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
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
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


ROOT = Path(__file__).resolve().parents[1]  # the checkout
REFERENCE = ROOT.parent / "shared" / "reference"


def tiny_model_dir() -> Path:
    """The tiny GLM (built on first use, ~6 s)."""
    from server.backends.local.tiny_model import TINY_MODEL_DIR, build

    if not (TINY_MODEL_DIR / "model.safetensors").exists():
        build(TINY_MODEL_DIR)
    return TINY_MODEL_DIR
