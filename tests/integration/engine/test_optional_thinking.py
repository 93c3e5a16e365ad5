"""GLM-4.5/4.6 on the real engine: the model opens <think> itself or answers at once (issue 21, item 13).

The tiny model is served with GLM-4.5's official chat template (from ../shared/reference): its prompt ends
at `<|assistant|>` with thinking on. Greedy output is the same for the chat request and a raw completion
of the same prompt, so what the model wrote is known, and the chat answer is checked against it: output
that does not open <think> is the answer, streamed once and never also as reasoning.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from parsers import parse
from server.app import create_app
from server.backends.local.engine import LocalBackend
from server.settings import load_settings
from tests.conftest import live_server, tiny_model_dir
from tests.server.backends.local.test_prompt import GLM45, needs_reference

pytestmark = [pytest.mark.engine, needs_reference]
MODEL = "glm-tiny-45"
HI = [{"role": "user", "content": "Hi"}]
GREEDY: dict[str, Any] = {"temperature": 0, "max_tokens": 24, "extra_body": {"ignore_eos": True}}


@pytest.fixture(scope="module")
def glm45_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, LocalBackend]]:
    weights = tmp_path_factory.mktemp("tiny-glm45")
    for f in tiny_model_dir().iterdir():
        (weights / f.name).symlink_to(f)
    (weights / "chat_template.jinja").unlink()
    shutil.copy(GLM45, weights / "chat_template.jinja")
    settings = {
        "config": "tiny-cpu",
        "model": str(weights),
        "demo": False,
        "served_model_name": MODEL,
    }
    app = create_app(load_settings(settings))
    backend = app.state.serving.backend
    assert isinstance(backend, LocalBackend)
    with live_server(app, ready_path="/health", timeout=600) as base:
        yield base, backend


def test_an_answer_without_think_is_content_once(glm45_server: tuple[str, LocalBackend]) -> None:
    base, backend = glm45_server
    assert backend.engine is not None and backend.engine.template.layout == "glm45"
    with openai.OpenAI(base_url=base + "/v1", api_key="x", max_retries=0, timeout=300) as sdk:
        # What the model writes after this prompt, raw (the same greedy tokens as the chat request).
        ids = httpx.post(base + "/tokenize", json={"model": MODEL, "messages": HI}).json()["tokens"]
        raw = sdk.completions.create(model=MODEL, prompt=ids, **GREEDY).choices[0].text
        assert not raw.lstrip().startswith("<think>"), (
            "a random model that opened <think>: pick another prompt"
        )
        expected = parse(raw, layout="glm45", starts_in_reasoning=False)
        whole = sdk.chat.completions.create(model=MODEL, messages=HI, **GREEDY).choices[0].message
        assert getattr(whole, "reasoning_content", None) is None
        assert whole.content == expected.content and expected.content
        reasoning = content = ""
        for chunk in sdk.chat.completions.create(model=MODEL, messages=HI, stream=True, **GREEDY):
            for c in chunk.choices:
                reasoning += getattr(c.delta, "reasoning_content", None) or ""
                content += c.delta.content or ""
        assert (reasoning, content) == ("", whole.content)
