"""POST /v1/responses/compact through the official SDK: the summary, the compacted window, its round trip."""

from __future__ import annotations

from typing import Any

import httpx
import openai
import pytest

from server.core.request import ChatRequest, CompletionRequest
from server.responses import compact
from tests.fake_server import client, fake_server

from .test_history import last_request, sealed_reasoning
from .test_stream import WEATHER

SUMMARY = "The user plans a trip to Paris; the weather tool said sunny; next: book a hotel."
HISTORY: list[Any] = [
    {"role": "user", "content": "Plan a trip to Paris."},
    {"type": "function_call", "call_id": "c1", "name": "get_weather", "arguments": '{"city": "Paris"}'},
    {"type": "function_call_output", "call_id": "c1", "output": "sunny"},
    {"role": "assistant", "content": "It will be sunny."},
    {"role": "user", "content": [{"type": "input_text", "text": "Now the hotel."}]},
]


def script(req: ChatRequest | CompletionRequest) -> str:
    """The summary when asked to compact, else an answer (thinking on by default: reasoning first)."""
    assert isinstance(req, ChatRequest)
    if req.messages[-1].content == compact.INSTRUCTION:
        return SUMMARY
    return "Reading the summary.</think>Booking the hotel."


def test_compaction_keeps_the_users_messages_and_seals_the_rest() -> None:
    with fake_server(script) as (base, backend):
        done = client(base).responses.compact(
            model="glm-test", input=HISTORY, instructions="Be brief.", extra_body={}
        )
        asked = last_request(backend)
        # The conversation, then the instruction; no tools and no thinking for a summary.
        assert [m.role for m in asked.messages] == [
            "system",
            "user",
            "assistant",
            "tool",
            "assistant",
            "user",
            "user",
        ]
        assert asked.messages[-1].content == compact.INSTRUCTION
        assert asked.thinking.enabled is False and not asked.tools
        assert done.object == "response.compaction" and done.usage.output_tokens > 0
        kept, item = done.output[:-1], done.output[-1]
        assert [(m.role, m.content[0].text) for m in kept] == [  # type: ignore[union-attr]
            ("user", "Plan a trip to Paris."),
            ("user", "Now the hotel."),
        ]
        assert item.type == "compaction" and item.encrypted_content.startswith("glmc1.")  # type: ignore[union-attr]
        assert SUMMARY.split()[0] not in item.encrypted_content  # compressed, not plain text

        # The window comes back as the next request's history: the summary renders where it stood.
        # (as sent: the SDK's types expect output_text in any message it parses)
        window = httpx.post(base + "/v1/responses/compact", json={"model": "glm-test", "input": HISTORY})
        window = window.json()["output"]
        nxt = client(base).responses.create(
            model="glm-test", input=[*window, {"role": "user", "content": "Go on."}], tools=[WEATHER]
        )
        assert nxt.output_text == "Booking the hotel."
        messages = last_request(backend).messages
        assert [m.role for m in messages] == ["user", "user", "user", "user"]
        assert messages[2].content == f"{compact.HEADER}\n\n{SUMMARY}"


def test_a_compaction_this_server_did_not_seal_is_refused() -> None:
    with fake_server(script) as (base, _):
        forged = {"type": "compaction", "encrypted_content": "glmc1.bm90IG91cnM.c2lnbmF0dXJl"}
        r = httpx.post(
            base + "/v1/responses",
            json={"model": "glm-test", "input": [{"role": "user", "content": "hi"}, forged]},
        )
        assert r.status_code == 400
        assert r.json()["error"]["param"] == "input[1].encrypted_content"
        # A reasoning item's seal is no compaction's: the kinds are signed apart.
        reasoning = sealed_reasoning(base, "Reading the summary.")["encrypted_content"]
        blob = {"type": "compaction", "encrypted_content": reasoning}
        r = httpx.post(base + "/v1/responses", json={"model": "glm-test", "input": [blob]})
        assert r.status_code == 400 and "not made by this server" in r.json()["error"]["message"]


@pytest.mark.parametrize(
    ("body", "status", "param"),
    [
        ({"input": HISTORY}, 400, "model"),
        ({"model": "other", "input": HISTORY}, 404, "model"),
        ({"model": "glm-test", "input": []}, 400, "input"),
        ({"model": "glm-test", "previous_response_id": "resp_gone"}, 400, "previous_response_id"),
    ],
)
def test_bad_compactions_are_errors_in_openai_shape(body: dict[str, Any], status: int, param: str) -> None:
    with fake_server(script) as (base, _):
        r = httpx.post(base + "/v1/responses/compact", json=body)
        assert r.status_code == status, r.text
        assert r.json()["error"]["param"] == param


def test_a_history_past_the_context_loses_its_oldest_turns_first() -> None:
    """Compaction is asked for when the context is nearly full: the summary's room is made by leaving
    out the oldest turns, never the instruction."""
    turns = [{"role": "user", "content": f"turn {i} " + "x" * 400} for i in range(30)]
    with fake_server(script, context_length=compact.SUMMARY_ROOM + 6000) as (base, backend):
        done = client(base).responses.compact(model="glm-test", input=turns)
        asked = last_request(backend)
    assert asked.messages[-1].content == compact.INSTRUCTION
    sent = [m.content for m in asked.messages[:-1]]
    assert 0 < len(sent) < 30 and sent == [t["content"] for t in turns[-len(sent) :]]
    assert len(done.output) == 31  # every user message is kept, as OpenAI's endpoint does


def test_the_sdk_sees_an_unknown_model_as_not_found() -> None:
    with fake_server(script) as (base, _), pytest.raises(openai.NotFoundError):
        client(base).responses.compact(model="nope", input="hi")
