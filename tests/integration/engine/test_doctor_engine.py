"""`glm-serve doctor --model tiny-cpu --compare-vllm`: it starts the real engine on the tiny random model,
every check that holds for random weights passes (the one of sense is skipped, with the reason), and the
speed section measures glm-serve and vLLM's own server on the same weights, interleaved."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, free_port, tiny_model_dir

pytestmark = pytest.mark.engine


def test_doctor_on_the_tiny_model(tmp_path: Path) -> None:
    tiny_model_dir()
    command = [sys.executable, "-m", "server", "doctor", "--model", "tiny-cpu", "--compare-vllm"]
    command += ["--out", str(tmp_path)]
    done = subprocess.run(
        [*command, "--port", str(free_port())], cwd=ROOT, capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    doc = json.loads((tmp_path / "doctor.json").read_text())
    status = {c["name"]: c["status"] for c in doc["checks"]}
    assert doc["verdict"] == "ok" and doc["served model"] == "glm-tiny-demo"
    for name in ("forced tool call", "JSON-schema answer", "stop string", "two-turn tool loop"):
        assert status[name] == "ok", name
    assert status["an answer that makes sense"] == "skip"
    assert (tmp_path / "doctor.md").read_text().startswith("# glm-serve doctor: ok")
    speed = {c["name"]: c for c in doc["checks"] if c["group"] == "speed"}
    assert set(speed) == {"concurrency 1", "concurrency 16"}
    for check in speed.values():  # both servers measured; the ratio is the box's business, not the test's
        assert "vLLM serve: TTFT p50" in check["detail"] and "glm-serve/vLLM: tok/s x" in check["detail"]
