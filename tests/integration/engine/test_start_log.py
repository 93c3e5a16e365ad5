"""The demo's start as a person sees it: a quiet log, progress lines, 503s that say when, a clean Ctrl-C."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time

import httpx
import psutil

from tests.conftest import free_port, tiny_model_dir

NOISE = (
    "with config:",  # vLLM's 2.5 KB configuration line
    "FutureWarning",
    "NUMA binding",
    "libtcmalloc",
    "Model Runner V2 requires Triton",
    "/health",
    "Application startup complete",
    "Traceback",
    "KeyboardInterrupt",
    "nanobind",
)


def test_the_demo_starts_quietly_says_when_to_come_back_and_stops_on_ctrl_c() -> None:
    tiny_model_dir()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("BIGMODEL_API_KEY", "ZAI_API_KEY")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "server", "serve", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,  # its own process group, as a terminal's foreground job
    )
    base = f"http://127.0.0.1:{port}"
    loading: list[httpx.Response] = []
    try:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            try:
                health = httpx.get(base + "/health")
            except httpx.TransportError:
                time.sleep(0.2)
                continue
            if health.status_code == 200:
                break
            chat = httpx.post(
                base + "/v1/chat/completions", json={"messages": [{"role": "user", "content": "hi"}]}
            )
            loading += [health, chat]
            time.sleep(1)
        answer = httpx.post(
            base + "/v1/chat/completions",
            json={"messages": [{"role": "user", "content": "hi"}], "max_tokens": 4},
        )
        assert answer.status_code == 200 and answer.json()["model"] == "glm-tiny-demo"
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C: the whole group, engine processes too
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    # While the model loaded: 503 with Retry-After, on /health and on a request (the last request may have
    # found the engine ready already).
    refused = [r for r in loading if r.status_code == 503]
    assert {r.request.url.path for r in refused} == {"/health", "/v1/chat/completions"}, loading
    assert all(r.headers["retry-after"] == "5" for r in refused)
    assert all(r.status_code in (200, 503) for r in loading)
    assert proc.returncode == 130
    for noise in NOISE:
        assert noise not in err, f"{noise!r} in the start-up log:\n{err}"
    for progress in (
        "listening on http://127.0.0.1",
        "loading ",
        "Loading weights took",
        "KV cache: ",
        "ready in ",
        '"POST /v1/chat/completions HTTP/1.1" 200',
    ):
        assert progress in err, f"{progress!r} missing from the start-up log:\n{err}"
    # Besides the access lines of this test's own polling: the banner, progress, shutdown.
    assert len([line for line in err.splitlines() if "uvicorn.access" not in line]) < 30, err


def test_ctrl_c_while_the_model_loads_ends_everything_quietly() -> None:
    """The common regret: the wrong model, Ctrl-C a few seconds in. A terminal signals the whole process
    group; the engine processes, mid-import, must neither print tracebacks nor outlive the server."""
    tiny_model_dir()
    env = {k: v for k, v in os.environ.items() if k not in ("BIGMODEL_API_KEY", "ZAI_API_KEY")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "server", "serve", "--port", str(free_port())],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,
    )
    try:
        children: list[psutil.Process] = []
        deadline = time.monotonic() + 60
        while not children and time.monotonic() < deadline:
            time.sleep(0.2)
            children = psutil.Process(proc.pid).children(recursive=True)
        assert children, "no engine process was started"
        time.sleep(1.0)  # the engine process is importing torch and vLLM now
        os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, err
    for noise in ("Traceback", "KeyboardInterrupt", "failed to start"):
        assert noise not in err, f"{noise!r} after Ctrl-C:\n{err}"
    _, alive = psutil.wait_procs(children, timeout=10)
    assert not alive, f"engine processes outlived the server: {alive}"
