"""Claude Code (`claude -p`) over /v1/messages in a tool loop: what it sends once a session has turns.

It puts a `system` message (its agent list) in the middle of `messages`, right after the user's turn.
GLM gets no mid-conversation system turn, and each request's prompt continues the previous one byte for
byte (checked by rendering every request the backend received with the tiny model's GLM-4.7 template),
so the prefix cache keeps hitting.
"""

from __future__ import annotations

import itertools
import os
import subprocess
from pathlib import Path
from typing import Any

from parsers import render_tool_call
from server.app import create_app
from server.backends.fake import FakeBackend
from server.backends.local.prompt import PromptRenderer
from server.core.request import ChatRequest
from server.settings import Settings
from tests.conftest import live_server, tiny_model_dir
from tests.integration.clients.conftest import recording


def two_commands(req: ChatRequest | Any) -> str:
    done = [m for m in req.messages if m.role == "tool"]
    if len(done) < 2:
        command = {"command": f"echo step{len(done) + 1}", "description": "Print a step"}
        return "Next step.</think>" + render_tool_call("Bash", command, "glm47")
    return "Both ran.</think>Both steps printed."


def test_a_tool_loop_keeps_its_prompt_prefix_and_gets_no_mid_conversation_system_turn(
    claude_code: Path, tmp_path: Path
) -> None:
    from transformers import AutoTokenizer

    backend = FakeBackend(two_commands, model="glm-4.7", context_length=1_000_000)
    bodies: list[dict[str, Any]] = []
    env = {
        **os.environ,
        "HOME": str(tmp_path / "home"),
        "IS_SANDBOX": "1",  # root may bypass permissions in a sandbox
        "ANTHROPIC_AUTH_TOKEN": "unused",
        "ANTHROPIC_MODEL": "glm-4.7",
        "ANTHROPIC_SMALL_FAST_MODEL": "glm-4.7",
        "DISABLE_TELEMETRY": "1",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    }
    with live_server(
        recording(create_app(Settings(backend="fake"), backend), bodies, "/v1/messages")
    ) as base:
        done = subprocess.run(
            [str(claude_code), "-p", "Run two echo commands.", "--permission-mode", "bypassPermissions"],
            cwd=tmp_path,
            env={**env, "ANTHROPIC_BASE_URL": base},
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=300,
        )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Both steps printed." in done.stdout
    # What Claude Code sent: a system message after the user's turn, in every request of the loop.
    roles = [[m["role"] for m in b["messages"]] for b in bodies if b.get("messages")]
    assert roles[-1][:3] == ["user", "system", "assistant"], roles
    requests = [r for r in backend.requests if isinstance(r, ChatRequest) and r.tools]
    assert len(requests) >= 3
    for req in requests:
        assert all(m.role != "system" for m in req.messages[1:]), [m.role for m in req.messages]
    renderer = PromptRenderer(AutoTokenizer.from_pretrained(tiny_model_dir()))
    prompts = [renderer.render_text(req) for req in requests]
    for before, after in itertools.pairwise(prompts):
        stem = before.removesuffix("<|assistant|><think>")
        assert after.startswith(stem), "a later request renders an earlier turn differently"
