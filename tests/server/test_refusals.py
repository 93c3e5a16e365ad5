"""`glm-serve serve` refuses what cannot serve: one line, exit code 2, within two seconds, nothing loaded."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from server import preflight
from server.preflight import Box, Refused
from server.settings import load_settings
from tests.conftest import free_port

NO_KEYS = {"BIGMODEL_API_KEY", "ZAI_API_KEY", "GLM_SERVE_MODEL", "CUDA_VISIBLE_DEVICES"}


def serve(*argv: str, env: dict[str, str] | None = None) -> tuple[subprocess.CompletedProcess[str], float]:
    environ = {k: v for k, v in os.environ.items() if k not in NO_KEYS} | (env or {})
    began = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "server", "serve", *argv],
        capture_output=True,
        text=True,
        env=environ,
        timeout=60,
    )
    return done, time.monotonic() - began


def refused(*argv: str, env: dict[str, str] | None = None) -> str:
    """The one line a refusal prints, checked for the exit code, the time and the absence of a traceback."""
    done, took = serve(*argv, env=env)
    assert done.returncode == 2, done.stderr
    assert took < 2.0, f"refused after {took:.1f} s"
    assert done.stdout == "" and "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("glm-serve: ")
    return lines[0].removeprefix("glm-serve: ")


def test_a_mistyped_preset_gets_the_nearest_names() -> None:
    line = refused("glm-4.7-flsh")
    assert line.startswith("unknown preset 'glm-4.7-flsh': did you mean glm-4.7-flash")
    assert "`glm-serve plan` lists the presets" in line
    # Far from every name: no guess, the same pointer.
    assert refused("--model", "qwen3").startswith("unknown preset 'qwen3': `glm-serve plan`")


def test_a_path_that_is_not_there_or_not_weights_says_so(tmp_path: Path) -> None:
    assert refused(str(tmp_path / "GLM-4.7")) == f"no such directory: {tmp_path / 'GLM-4.7'}"
    assert refused("./models/GLM-4.7-Flash") == "no such directory: ./models/GLM-4.7-Flash"
    assert refused(str(tmp_path)) == f"{tmp_path} is not a weights directory (no config.json in it)"
    (tmp_path / "model.safetensors").write_bytes(b"")
    assert "is a file; give the directory" in refused(str(tmp_path / "model.safetensors"))


def test_a_model_that_needs_gpus_on_a_box_without_any() -> None:
    # This machine (and CI's) has no GPU: the preset's four are named, and what to do instead.
    assert refused("glm-4.7-fp8") == (
        "glm-4.7-fp8 needs 4 GPUs; this machine has none — try --backend hosted (with ZAI_API_KEY set), or "
        "`glm-serve serve` alone for the CPU demo"
    )
    assert refused("zai-org/GLM-4.5-Air").startswith("zai-org/GLM-4.5-Air needs a GPU; this machine has none")
    # Never the demo in its place (it used to be served, with a banner suggesting the same command).


def test_two_models_a_hosted_backend_without_a_key_and_a_port_in_use() -> None:
    assert refused("glm-4.7-flash", "--model", "glm-4.7-fp8") == (
        "two models: glm-4.7-flash and --model glm-4.7-fp8; give one"
    )
    assert refused("--backend", "hosted") == (
        "--backend hosted needs a key: export ZAI_API_KEY (z.ai) or BIGMODEL_API_KEY (bigmodel.cn)"
    )
    assert refused("--backend", "fake", "--fallback", "failover").startswith("--backend hosted needs a key")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert refused("--backend", "fake", "--port", str(port)) == (
            f"cannot listen on 127.0.0.1:{port}: Address already in use (--port to choose another)"
        )


def test_the_box_checks_on_boxes_this_machine_is_not() -> None:
    """GPU counts and the hub cache, as preflight.check sees them (this machine has no GPU to vary)."""
    fp8 = load_settings({"model": "glm-4.7-fp8"}, environ={})
    with pytest.raises(Refused, match=r"^glm-4.7-fp8 needs 4 GPUs; this machine has 2 — `glm-serve plan`"):
        preflight.check(fp8, Box(gpus=2, hosted_key=False), "glm-4.7-fp8")
    preflight.check(fp8, Box(gpus=4, hosted_key=False), "glm-4.7-fp8")  # online: vLLM downloads it
    # Enough cards, too little memory on each: the plan's reason, before torch is even imported.
    with pytest.raises(Refused) as small:
        preflight.check(fp8, Box(gpus=4, hosted_key=False, gpu_memory=80 * 2**30), "glm-4.7-fp8")
    assert str(small.value).startswith("glm-4.7-fp8 does not fit this machine's GPUs: weights 84.3 GiB")
    assert str(small.value).endswith("— `glm-serve plan` shows what does")
    preflight.check(fp8, Box(gpus=4, hosted_key=False, gpu_memory=141 * 2**30), "glm-4.7-fp8")
    # DP x EP: eight GPUs for eight ranks; a two-node layout needs only this node's share here.
    air = load_settings({"model": "glm-4.5-air-fp8-dp-ep"}, environ={})
    with pytest.raises(Refused, match="needs 8 GPUs; this machine has 4"):
        preflight.check(air, Box(gpus=4, hosted_key=False))
    preflight.check(load_settings({"model": "glm-4.7-fp8-2node"}, environ={}), Box(gpus=8, hosted_key=False))
    # Offline, weights that are not a directory here: the download command, not a minute of retries.
    offline = load_settings({"model": "glm-4.7-flash", "offline": True}, environ={})
    with pytest.raises(Refused) as missing:
        preflight.check(offline, Box(gpus=1, hosted_key=False), "glm-4.7-flash")
    assert str(missing.value) == (
        "offline, and zai-org/GLM-4.7-Flash is not a weights directory on this disk: run `glm-serve download "
        "glm-4.7-flash --to DIR` where there is a network, then `glm-serve serve DIR`"
    )
    # A hub id with an explicit --backend local, no GPU: the operator's call (vLLM runs it on the CPU).
    preflight.check(
        load_settings({"model": "org/tiny", "backend": "local"}, environ={}), Box(0, False), "org/tiny"
    )
    # Without a GPU but with a hosted key, auto serves the model through the hosted API.
    preflight.check(load_settings({"model": "zai-org/GLM-4.5-Air"}, environ={}), Box(gpus=0, hosted_key=True))


def test_the_preflight_knows_the_hosted_key_as_the_hosted_backend_does() -> None:
    from server.backends.remote.hosted import api_key

    for env in ({}, {"ZAI_API_KEY": "k"}, {"BIGMODEL_API_KEY": "k"}, {"ZAI_API_KEY": ""}, {"OTHER_KEY": "k"}):
        assert preflight.this_box(env).hosted_key == bool(api_key(env)), env


def test_visible_gpus_follow_cuda_visible_devices() -> None:
    present = preflight.visible_gpus({})
    assert preflight.visible_gpus({"CUDA_VISIBLE_DEVICES": ""}) == 0
    assert preflight.visible_gpus({"CUDA_VISIBLE_DEVICES": "0"}) == min(present, 1)


def test_ctrl_c_ends_the_server_without_a_traceback() -> None:
    port = free_port()
    environ = {k: v for k, v in os.environ.items() if k not in NO_KEYS}
    proc = subprocess.Popen(
        [sys.executable, "-m", "server", "serve", "--backend", "fake", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environ,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 130
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    assert "listening on http://127.0.0.1" in err and "Shutting down" in err
