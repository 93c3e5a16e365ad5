"""Real coding-assistant clients, installed from their registries on first use into .cache/clients."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
CLIENTS = ROOT / ".cache" / "clients"
CODEX_VERSION = "0.171.0"  # the Responses-only Codex CLI (0.17x) the issue was written against


@pytest.fixture(scope="session")
def codex() -> Path:
    """The Codex CLI binary (its npm package ships a native build)."""
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("npm is not installed: the Codex CLI comes from the npm registry (@openai/codex)")
    prefix = CLIENTS / f"codex-{CODEX_VERSION}"
    binary = prefix / "node_modules" / ".bin" / "codex"
    if not binary.exists():
        prefix.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(
            [
                npm,
                "install",
                "--prefix",
                str(prefix),
                "--no-audit",
                "--no-fund",
                f"@openai/codex@{CODEX_VERSION}",
            ],
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, f"npm could not install @openai/codex: {done.stderr[-2000:]}"
    return binary
