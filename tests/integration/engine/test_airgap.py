"""Air-gapped by construction: the real engine serves every wire inside a network namespace that has
only loopback, with every library's proxy pointed at a recorder, and nothing tries to leave; the same
harness does catch what a server without the offline switches attempts."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import tiny_model_dir

pytestmark = pytest.mark.engine
PROBE = Path(__file__).resolve().parent / "airgap_probe.py"


def _namespaces() -> str | None:
    """Why network namespaces cannot be used here, or None when they can."""
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return "unshare or ip is not installed"
    done = subprocess.run(["unshare", "-n", "true"], capture_output=True, text=True)
    return None if done.returncode == 0 else f"unshare -n failed: {done.stderr.strip()} (needs root)"


UNAVAILABLE = _namespaces()


def probe(model: str, *flags: str, **env: str) -> dict[str, Any]:
    if UNAVAILABLE:
        pytest.skip(f"no network namespace: {UNAVAILABLE}")
    inner = f"ip link set lo up && exec {sys.executable} {PROBE} {model} {' '.join(flags)}"
    environ = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    done = subprocess.run(
        ["unshare", "-n", "--", "sh", "-c", inner],
        capture_output=True,
        text=True,
        timeout=900,
        env={**environ, **env},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


ALL_OK = {"chat": 200, "chat_stream": 200, "messages": 200, "responses": 200}


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> str:
    copy = tmp_path_factory.mktemp("airgap") / "GLM-tiny"
    shutil.copytree(tiny_model_dir(), copy)
    return str(copy)


@pytest.mark.parametrize("key", [None, "0123456789abcdef.hostedkey"], ids=["no-key", "hosted-key-set"])
def test_local_weights_serve_every_wire_and_nothing_leaves(weights: str, key: str | None) -> None:
    result = probe(weights, **({"BIGMODEL_API_KEY": key} if key else {}))
    assert result["caught"] == [], result["log"]
    assert result["statuses"] == ALL_OK, result["log"]
    assert result["said_offline"]


def test_the_recorder_catches_what_a_server_without_the_switches_attempts(weights: str) -> None:
    # Offline off, a hosted key set, no GPU: `auto` picks the hosted API, whose requests go to the proxy.
    online = probe(weights, "--no-offline", BIGMODEL_API_KEY="0123456789abcdef.hostedkey")
    assert "CONNECT open.bigmodel.cn:443 HTTP/1.1" in online["caught"]
    # A hub id instead of a directory: without the switches the hub is asked; with them, nothing is,
    # and the server refuses to start with the reason.
    hub = probe("zai-org/GLM-4.7-FP8", "--backend local --no-offline")
    assert any("huggingface.co" in line for line in hub["caught"]), hub
    assert hub["exit"] == 1  # and it stopped, with the reason, instead of answering 503 forever
    offline = probe("zai-org/GLM-4.7-FP8", "--backend local --offline")
    assert offline["caught"] == [] and offline["exit"] not in (0, None), offline
