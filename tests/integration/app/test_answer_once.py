"""An answer that skips thinking reaches the client once, as the answer, on every wire (issue 21, item 13).

GLM-4.5/4.6 open <think> themselves, or answer at once: their first non-blank output decides. GLM-4.7+'s
prompt opens <think>; an answer left inside it streams as reasoning, then as content, but a whole
message (or response) carries it once.
"""

from __future__ import annotations

from typing import Any

import anthropic
import pytest

from server.app import create_app
from server.backends.fake import FakeBackend
from server.settings import Settings
from tests.conftest import live_server
from tests.fake_server import client

USER = [{"role": "user", "content": "Capital of France?"}]
ANSWER = "Paris is the capital of France."


def serve(script: str, layout: str) -> Any:
    backend = FakeBackend(script, model="glm-test", layout=layout)  # type: ignore[arg-type]
    return live_server(create_app(Settings(backend="fake"), backend))


def streamed(base: str) -> tuple[str, str]:
    reasoning, content = "", ""
    for chunk in client(base).chat.completions.create(model="glm-test", messages=USER, stream=True):
        for choice in chunk.choices:
            reasoning += getattr(choice.delta, "reasoning_content", None) or ""
            content += choice.delta.content or ""
    return reasoning, content


@pytest.mark.parametrize("script", [ANSWER, "\n" + ANSWER, "  \n\n" + ANSWER])
def test_glm45_answering_without_think_is_content_once_streamed_and_whole(script: str) -> None:
    with serve(script, "glm45") as base:
        assert streamed(base) == ("", ANSWER)
        whole = client(base).chat.completions.create(model="glm-test", messages=USER).choices[0].message
        assert (getattr(whole, "reasoning_content", None), whole.content) == (None, ANSWER)


def test_glm45_opening_think_is_reasoning() -> None:
    with serve("\n<think>The user asks a capital.</think>\n" + ANSWER, "glm45") as base:
        assert streamed(base) == ("The user asks a capital.", ANSWER)


def test_an_answer_left_in_an_opened_think_is_carried_once_by_whole_messages() -> None:
    with serve(ANSWER, "glm47") as base:
        assert streamed(base) == (ANSWER, ANSWER)  # the stream could not know until the end
        whole = client(base).chat.completions.create(model="glm-test", messages=USER).choices[0].message
        assert (getattr(whole, "reasoning_content", None), whole.content) == (None, ANSWER)
        response = client(base).responses.create(model="glm-test", input="Capital of France?")
        assert [i.type for i in response.output] == ["message"] and response.output_text == ANSWER
        with anthropic.Anthropic(base_url=base, api_key="x", max_retries=0) as a:
            message = a.messages.create(model="glm-test", max_tokens=100, messages=USER)  # type: ignore[arg-type]
        assert [b.type for b in message.content] == ["text"]
