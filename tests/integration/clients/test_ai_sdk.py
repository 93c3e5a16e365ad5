"""The Vercel AI SDK's OpenAI provider (npm `ai`, `@ai-sdk/openai`) running a tool loop over /v1/responses.

With `store` on (its default) the SDK sends the previous step's reasoning back as an `item_reference`
on the second step of every tool loop; the server resolves it against the stored response.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from parsers import render_tool_call
from server.app import create_app
from server.backends.fake import FakeBackend
from server.core.request import ChatRequest, CompletionRequest
from server.settings import Settings
from tests.conftest import live_server
from tests.integration.clients.conftest import recording

SCRIPT = Path(__file__).parent / "ai_sdk" / "tool_loop.mjs"


def script(req: ChatRequest | CompletionRequest) -> str:
    assert isinstance(req, ChatRequest)
    if any(m.role == "tool" for m in req.messages):
        return "The tool answered.</think>It is sunny in Oslo."
    return "Need the weather.</think>" + render_tool_call("get_weather", {"city": "Oslo"}, "glm47")


def test_a_two_step_tool_loop_with_store_on(ai_sdk: Path) -> None:
    node = shutil.which("node")
    assert node is not None
    shutil.copy(SCRIPT, ai_sdk / SCRIPT.name)  # beside its node_modules, where its imports resolve
    backend = FakeBackend(script, model="glm-test")
    bodies: list[dict[str, Any]] = []
    with live_server(recording(create_app(Settings(backend="fake"), backend), bodies)) as base:
        done = subprocess.run(
            [node, SCRIPT.name],
            cwd=ai_sdk,
            env={**os.environ, "GLM_BASE_URL": base + "/v1", "GLM_MODEL": "glm-test"},
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {
        "text": "It is sunny in Oslo.",
        "steps": 2,
        "finish": "stop",
    }
    # The second step referred to the first step's reasoning by id, and the model got it back whole.
    second = bodies[1]["input"]
    assert [i.get("type") for i in second if i.get("type") == "item_reference"] == ["item_reference"]
    assistant = next(m for m in backend.requests[-1].messages if m.role == "assistant")
    assert assistant.reasoning == "Need the weather." and assistant.tool_calls[0].name == "get_weather"
