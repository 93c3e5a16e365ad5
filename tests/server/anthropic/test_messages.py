"""The Messages API through the official anthropic SDK against the fake backend over real HTTP."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anthropic
import httpx
import pytest

from parsers import TextDelta
from server.anthropic.render import PING, message_sse
from server.app import create_app
from server.core.events import MessageEnd, MessageStart, StreamEvent, Usage
from server.http.event_stream import EventStreamResponse
from server.settings import Settings
from tests.conftest import live_server
from tests.fake_server import TOOL_SCRIPT, fake_server
from tests.integration.app.test_streams import FailingBackend

TOOLS = [
    {
        "name": "get_weather",
        "description": "Weather for a city.",
        "input_schema": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
            "required": ["city"],
        },
    }
]
USER = [{"role": "user", "content": "Weather in Paris and Tokyo?"}]


def sdk(base: str, key: str = "unused") -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=base, api_key=key, max_retries=0)


@pytest.fixture(scope="module")
def tool_server() -> Iterator[str]:
    with fake_server(TOOL_SCRIPT) as (base, _):
        yield base


def _blocks(message: Any) -> list[dict[str, Any]]:
    """Content blocks without the per-response tool ids."""
    return [{k: v for k, v in b.model_dump().items() if k != "id" and v is not None} for b in message.content]


def test_thinking_text_and_tool_use_whole(tool_server: str) -> None:
    with sdk(tool_server) as c:
        msg = c.messages.create(model="glm-test", max_tokens=1024, messages=USER, tools=TOOLS)
    assert msg.stop_reason == "tool_use" and msg.role == "assistant" and msg.id.startswith("msg_")
    kinds = [b.type for b in msg.content]
    assert kinds == ["thinking", "text", "tool_use", "tool_use"]
    thinking, text, first, second = msg.content
    assert thinking.thinking == "I need the weather for two cities." and thinking.signature  # type: ignore[union-attr]
    assert text.text == "Checking both."  # type: ignore[union-attr]
    assert (first.name, first.input) == ("get_weather", {"city": "Paris", "days": 2})  # type: ignore[union-attr]
    assert second.input == {"city": "東京", "days": 1}  # type: ignore[union-attr]
    assert first.id.startswith("toolu_") and first.id != second.id  # type: ignore[union-attr]
    assert msg.usage.output_tokens > 0 and msg.usage.input_tokens > 0


def test_stream_accumulates_to_the_whole_message(tool_server: str) -> None:
    with sdk(tool_server) as c:
        whole = c.messages.create(model="glm-test", max_tokens=1024, messages=USER, tools=TOOLS)
        with c.messages.stream(model="glm-test", max_tokens=1024, messages=USER, tools=TOOLS) as stream:
            events = [e.type for e in stream]
            final = stream.get_final_message()
    assert _blocks(final) == _blocks(whole)
    assert final.stop_reason == whole.stop_reason == "tool_use"
    assert final.usage.output_tokens == whole.usage.output_tokens
    assert events[0] == "message_start" and events[-1] == "message_stop"


def test_raw_event_order_and_block_indexes(tool_server: str) -> None:
    body = {"model": "glm-test", "max_tokens": 1024, "messages": USER, "tools": TOOLS, "stream": True}
    with httpx.stream("POST", tool_server + "/v1/messages", json=body) as r:
        lines = [line for line in r.iter_lines() if line]
    events = [(lines[i][7:], json.loads(lines[i + 1][6:])) for i in range(0, len(lines), 2)]
    names = [n for n, _ in events]
    assert names[:2] == ["message_start", "ping"]
    assert names[-2:] == ["message_delta", "message_stop"]
    assert all(n == d["type"] for n, d in events)
    starts = [d["index"] for n, d in events if n == "content_block_start"]
    stops = [d["index"] for n, d in events if n == "content_block_stop"]
    assert starts == stops == [0, 1, 2, 3]
    # Every delta belongs to the block that is open at that moment.
    open_block = None
    for n, d in events:
        if n == "content_block_start":
            open_block = d["index"]
        elif n == "content_block_delta":
            assert d["index"] == open_block
        elif n == "content_block_stop":
            open_block = None
    deltas = [d["delta"]["type"] for n, d in events if n == "content_block_delta"]
    thinking_end = deltas.index("signature_delta")
    assert set(deltas[:thinking_end]) == {"thinking_delta"}
    assert "input_json_delta" in deltas and "text_delta" in deltas
    assert events[-2][1]["delta"]["stop_reason"] == "tool_use"


def test_history_round_trip_keeps_thinking_and_tool_results() -> None:
    messages = [
        {"role": "user", "content": "Weather?"},
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": "Need the tool.", "signature": "sig"},
                {"type": "text", "text": "Let me check."},
                {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}},
            ],
        },
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_1",
                    "content": [{"type": "text", "text": "20C"}],
                },
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_2",
                    "content": "no such city",
                    "is_error": True,
                },
                {"type": "text", "text": "Thanks"},
            ],
        },
    ]
    system = [
        {
            "type": "text",
            "text": "x-anthropic-billing-header: cc_version=2.1.37.0d9; cc_entrypoint=cli; cch=fa690;",
        },
        {"type": "text", "text": "You are Claude Code."},
    ]
    with fake_server() as (base, backend), sdk(base) as c:
        c.messages.create(model="glm-test", max_tokens=64, system=system, messages=messages, tools=TOOLS)
        req = backend.requests[-1]
    sys_msg, _user, assistant, result, error, thanks = req.messages  # type: ignore[union-attr]
    assert sys_msg.role == "system" and sys_msg.content == "You are Claude Code."
    assert assistant.reasoning == "Need the tool." and assistant.content == "Let me check."
    assert assistant.tool_calls[0].arguments == {"city": "Paris"}
    assert (result.role, result.content, result.tool_call_id) == ("tool", "20C", "toolu_1")
    assert error.content == "Error: no such city"
    assert thanks.role == "user" and thanks.content == ("Thanks",)


def test_system_role_inside_messages_and_string_system() -> None:
    messages = [{"role": "system", "content": "Extra rules."}, {"role": "user", "content": "Hi"}]
    with fake_server() as (base, backend):
        r = httpx.post(
            base + "/v1/messages",
            json={"model": "glm-test", "max_tokens": 32, "system": "Top.", "messages": messages},
        )
        assert r.status_code == 200
        roles = [(m.role, m.content) for m in backend.requests[-1].messages]  # type: ignore[union-attr]
    assert roles == [("system", "Top."), ("system", "Extra rules."), ("user", "Hi")]


def test_stop_reasons_and_thinking_switch() -> None:
    with fake_server("Plan.</think>one two three four five") as (base, _), sdk(base) as c:
        cut = c.messages.create(model="glm-test", max_tokens=3, messages=USER)
        assert cut.stop_reason == "max_tokens"
        stopped = c.messages.create(model="glm-test", max_tokens=100, messages=USER, stop_sequences=["four"])
        assert stopped.stop_reason == "stop_sequence" and stopped.stop_sequence == "four"
        assert stopped.content[-1].text == "one two three "  # type: ignore[union-attr]  # up to the stop, as sent
        off = c.messages.create(
            model="glm-test", max_tokens=100, messages=USER, thinking={"type": "disabled"}
        )
        assert [b.type for b in off.content] == ["text"]
        on = c.messages.create(
            model="glm-test",
            max_tokens=100,
            messages=USER,
            thinking={"type": "enabled", "budget_tokens": 1024},
        )
        assert [b.type for b in on.content] == ["thinking", "text"]


def test_claude_model_names_mean_the_served_model() -> None:
    with fake_server() as (base, _), sdk(base) as c:
        r = c.messages.create(model="claude-3-5-haiku-20241022", max_tokens=16, messages=USER)
        assert r.model == "glm-test"
        with pytest.raises(anthropic.NotFoundError) as info:
            c.messages.create(model="gpt-4", max_tokens=16, messages=USER)
        assert info.value.body["error"]["type"] == "not_found_error"  # type: ignore[index]


def test_errors_in_anthropic_shape() -> None:
    with fake_server(api_key="k") as (base, _):
        missing = httpx.post(
            base + "/v1/messages", headers={"x-api-key": "k"}, json={"model": "glm-test", "messages": USER}
        )
        assert missing.status_code == 400
        assert (
            missing.json()["type"] == "error" and missing.json()["error"]["type"] == "invalid_request_error"
        )
        assert "max_tokens" in missing.json()["error"]["message"]
        with sdk(base, "wrong") as c, pytest.raises(anthropic.AuthenticationError):
            c.messages.create(model="glm-test", max_tokens=16, messages=USER)
        with sdk(base, "k") as c:
            assert c.messages.create(model="glm-test", max_tokens=16, messages=USER).content
            with pytest.raises(anthropic.BadRequestError, match="text only"):
                c.messages.create(
                    model="glm-test",
                    max_tokens=16,
                    messages=[
                        {
                            "role": "user",
                            "content": [
                                {
                                    "type": "image",
                                    "source": {"type": "base64", "media_type": "image/png", "data": "aGk="},
                                }
                            ],
                        }
                    ],
                )
        bearer = httpx.post(
            base + "/v1/messages/count_tokens",
            headers={"Authorization": "Bearer k"},
            json={"model": "glm-test", "messages": USER},
        )
        assert bearer.status_code == 200 and bearer.json()["input_tokens"] > 0


def test_count_tokens_uses_the_backend_tokenizer() -> None:
    with fake_server() as (base, _), sdk(base) as c:
        counted = c.messages.count_tokens(model="glm-test", messages=USER, tools=TOOLS)
        r = c.messages.create(model="glm-test", max_tokens=16, messages=USER, tools=TOOLS)
    assert counted.input_tokens == r.usage.input_tokens + (r.usage.cache_read_input_tokens or 0)


def test_error_mid_stream_is_an_error_event() -> None:
    with live_server(
        create_app(Settings(backend="fake"), FailingBackend("</think>never finishes ok"))
    ) as base:
        body = {"model": "glm-fake", "max_tokens": 100, "messages": USER, "stream": True}
        with httpx.stream("POST", base + "/v1/messages", json=body) as r:
            lines = [line for line in r.iter_lines() if line]
        assert lines[-2] == "event: error"
        assert json.loads(lines[-1][6:])["error"]["type"] == "overloaded_error"
        with sdk(base) as c, pytest.raises(anthropic.APIStatusError):
            for _ in c.messages.create(model="glm-fake", max_tokens=100, messages=USER, stream=True):
                pass


def test_pings_keep_a_slow_stream_alive() -> None:
    """A silent stretch (a long prefill) gets pings from the response's one timer, not a task per event."""

    async def slow() -> AsyncIterator[StreamEvent]:
        yield MessageStart("chatcmpl-x", "m", 3)
        await asyncio.sleep(0.35)  # a long prefill
        yield TextDelta("hi")
        yield MessageEnd("stop", Usage(3, 1))

    async def run() -> list[bytes]:
        sent: list[bytes] = []
        never = asyncio.Event()

        async def receive() -> dict[str, Any]:
            await never.wait()
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.body" and message["body"]:
                sent.append(message["body"])

        response = EventStreamResponse(message_sse(slow()), keepalive=(PING, 0.1))
        await response({"type": "http"}, receive, send)  # type: ignore[arg-type]
        return sent

    body = b"".join(asyncio.run(run()))
    names = [line[7:].decode() for line in body.split(b"\n") if line.startswith(b"event: ")]
    first_text = names.index("content_block_start")
    assert names[:2] == ["message_start", "ping"]
    assert 2 <= names[2:first_text].count("ping") <= 4  # 0.35 s of silence at one ping a 0.1 s
    assert "ping" not in names[first_text:]


def test_deferred_tools_load_when_a_tool_reference_names_them() -> None:
    """Claude Code's deferred tool loading: tools declared with defer_loading stay out of the prompt until
    a tool_result's tool_reference names one; the reference reads as text saying it is available."""
    tools = [
        {
            "name": "ToolSearch",
            "input_schema": {"type": "object", "properties": {"query": {"type": "string"}}},
        },
        {"name": "mcp__db__query", "input_schema": {"type": "object"}, "defer_loading": True},
        {"name": "mcp__db__schema", "input_schema": {"type": "object"}, "defer_loading": True},
    ]
    searched = [
        *USER,
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "t1", "name": "ToolSearch", "input": {"query": "db"}}],
        },
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "t1",
                    "content": [{"type": "tool_reference", "tool_name": "mcp__db__query"}],
                }
            ],
        },
    ]
    with fake_server("x</think>ok") as (base, backend), sdk(base) as c:
        c.messages.create(model="glm-test", max_tokens=32, messages=USER, tools=tools)  # type: ignore[arg-type]
        assert [t.name for t in backend.requests[-1].tools] == ["ToolSearch"]
        c.messages.create(model="glm-test", max_tokens=32, messages=searched, tools=tools)  # type: ignore[arg-type]
        request = backend.requests[-1]
        assert [t.name for t in request.tools] == ["ToolSearch", "mcp__db__query"]
        assert request.messages[-1].role == "tool"
        assert request.messages[-1].content == "Tool mcp__db__query is now available."
        counted = c.messages.count_tokens(model="glm-test", messages=searched, tools=tools)  # type: ignore[arg-type]
        assert counted.input_tokens > 0
