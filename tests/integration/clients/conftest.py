"""Real coding-assistant clients, installed from their registries on first use into .cache/clients."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[3]
CLIENTS = ROOT / ".cache" / "clients"
CODEX_VERSION = "0.171.0"  # the Responses-only Codex CLI (0.17x) the issue was written against


AI_SDK = ("ai@7.0.185", "@ai-sdk/openai@4.0.126", "zod@4.6.7")  # the Vercel AI SDK and its OpenAI provider


def npm_install(name: str, packages: tuple[str, ...]) -> Path:
    """`packages` installed from the npm registry under .cache/clients/<name> (once); its prefix."""
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip(f"npm is not installed: {', '.join(packages)} come from the npm registry")
    prefix = CLIENTS / name
    if not (prefix / "node_modules" / ".installed").exists():
        prefix.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(
            [npm, "install", "--prefix", str(prefix), "--no-audit", "--no-fund", *packages],
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, f"npm could not install {packages}: {done.stderr[-2000:]}"
        (prefix / "node_modules" / ".installed").touch()
    return prefix


@pytest.fixture(scope="session")
def codex() -> Path:
    """The Codex CLI binary (its npm package ships a native build)."""
    return (
        npm_install(f"codex-{CODEX_VERSION}", (f"@openai/codex@{CODEX_VERSION}",))
        / "node_modules"
        / ".bin"
        / "codex"
    )


CLAUDE_CODE_VERSION = "2.1.197"  # the Claude Code the long-sessions issue was written against


@pytest.fixture(scope="session")
def claude_code() -> Path:
    """The Claude Code CLI (npm @anthropic-ai/claude-code)."""
    prefix = npm_install(
        f"claude-code-{CLAUDE_CODE_VERSION}", (f"@anthropic-ai/claude-code@{CLAUDE_CODE_VERSION}",)
    )
    return prefix / "node_modules" / ".bin" / "claude"


@pytest.fixture(scope="session")
def ai_sdk() -> Path:
    """A folder whose node_modules hold the AI SDK: scripts placed there import it."""
    return npm_install("ai-sdk-" + AI_SDK[0].split("@")[1], AI_SDK)


def recording(app: Any, bodies: list[dict[str, Any]], path: str = "/v1/responses") -> Any:
    """`app`, keeping the JSON body of each request to `path` as the client sent it."""

    async def recorded(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] != path:
            return await app(scope, receive, send)
        raw = bytearray()

        async def receiving() -> Any:
            message = await receive()
            raw.extend(message.get("body", b""))
            if message["type"] == "http.request" and not message.get("more_body"):
                bodies.append(json.loads(raw))
            return message

        return await app(scope, receiving, send)

    return recorded
