"""tool_choice, strict tools and JSON response formats from every wire format into the core request
(what the local backend turns into a constraint), through the SDKs over real HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import anthropic
import openai
import pytest

from server.core.request import ChatRequest, CompletionRequest, JsonAnswer, NamedTool
from tests.fake_server import READ_TOOL, TOOL_SCRIPT, WEATHER_TOOL, client, fake_server

USER = [{"role": "user", "content": "Weather in Paris?"}]
SCHEMA = {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}
ANTHROPIC_TOOLS = [
    {"name": t["function"]["name"], "input_schema": t["function"]["parameters"]}  # type: ignore[index]
    for t in (WEATHER_TOOL, READ_TOOL)
]


@pytest.fixture(scope="module")
def seen() -> Iterator[tuple[str, list[ChatRequest]]]:
    """A server that remembers every request its backend received."""
    requests: list[ChatRequest] = []

    def script(req: ChatRequest | CompletionRequest) -> str:
        assert isinstance(req, ChatRequest)
        requests.append(req)
        return TOOL_SCRIPT

    with fake_server(script) as (base, _):
        yield base, requests


def openai_request(seen: tuple[str, list[ChatRequest]], **kwargs: Any) -> ChatRequest:
    base, requests = seen
    client(base).chat.completions.create(
        model="glm-test", messages=USER, tools=[WEATHER_TOOL, READ_TOOL], **kwargs
    )  # type: ignore[arg-type]
    return requests[-1]


def anthropic_request(seen: tuple[str, list[ChatRequest]], **kwargs: Any) -> ChatRequest:
    base, requests = seen
    with anthropic.Anthropic(base_url=base, api_key="x", max_retries=0) as c:
        c.messages.create(model="glm-test", max_tokens=100, messages=USER, tools=ANTHROPIC_TOOLS, **kwargs)  # type: ignore[arg-type]
    return requests[-1]


def test_openai_tool_choices(seen: tuple[str, list[ChatRequest]]) -> None:
    assert openai_request(seen).tool_choice == "auto"
    assert openai_request(seen, tool_choice="required").tool_choice == "required"
    named = openai_request(seen, tool_choice={"type": "function", "function": {"name": "read_file"}})
    assert named.tool_choice == NamedTool("read_file") and named.forces_call
    assert openai_request(seen, parallel_tool_calls=False).parallel_tool_calls is False
    strict = {"type": "function", "function": {**WEATHER_TOOL["function"], "strict": True}}  # type: ignore[dict-item]
    base, requests = seen
    client(base).chat.completions.create(model="glm-test", messages=USER, tools=[strict, READ_TOOL])  # type: ignore[list-item, arg-type]
    assert [t.strict for t in requests[-1].tools] == [True, False]


def test_openai_response_formats(seen: tuple[str, list[ChatRequest]]) -> None:
    assert openai_request(seen, response_format={"type": "text"}).response_format is None
    assert openai_request(seen, response_format={"type": "json_object"}).response_format == JsonAnswer()
    fmt = {"type": "json_schema", "json_schema": {"name": "a", "schema": SCHEMA, "strict": True}}
    assert openai_request(seen, response_format=fmt).response_format == JsonAnswer(SCHEMA)


def test_anthropic_tool_choices_and_output_format(seen: tuple[str, list[ChatRequest]]) -> None:
    assert anthropic_request(seen, tool_choice={"type": "any"}).tool_choice == "required"
    req = anthropic_request(
        seen, tool_choice={"type": "tool", "name": "read_file", "disable_parallel_tool_use": True}
    )
    assert req.tool_choice == NamedTool("read_file") and not req.parallel_tool_calls
    assert anthropic_request(seen, tool_choice={"type": "none"}).tool_choice == "none"
    out = anthropic_request(
        seen, extra_body={"output_config": {"format": {"type": "json_schema", "schema": SCHEMA}}}
    )
    assert out.response_format == JsonAnswer(SCHEMA)


def test_unanswerable_tool_choices_are_400_in_each_wire_shape() -> None:
    with fake_server(TOOL_SCRIPT) as (base, _):
        with pytest.raises(openai.BadRequestError) as oi:
            client(base).chat.completions.create(
                model="glm-test",
                messages=USER,
                tools=[WEATHER_TOOL],
                tool_choice={"type": "function", "function": {"name": "nope"}},  # type: ignore[arg-type, list-item]
            )
        assert "nope" in oi.value.message and oi.value.param == "tool_choice"  # type: ignore[attr-defined]
        with anthropic.Anthropic(base_url=base, api_key="x", max_retries=0) as c:
            for choice in ({"type": "tool", "name": "nope"}, {"type": "tool"}, {"type": "any"}):
                with pytest.raises(anthropic.BadRequestError) as ai:
                    c.messages.create(
                        model="glm-test",
                        max_tokens=10,
                        messages=USER,  # type: ignore[arg-type]
                        tools=[] if choice["type"] == "any" else ANTHROPIC_TOOLS,  # type: ignore[arg-type]
                        tool_choice=choice,  # type: ignore[arg-type]
                    )
                body = ai.value.body
                assert isinstance(body, dict) and body["type"] == "error"
                assert body["error"]["type"] == "invalid_request_error"


def test_the_fake_backend_honours_a_forced_tool_choice() -> None:
    """As an engine enforcing tool_choice would: a script without a call becomes a call to the required
    (or named) tool, each required argument a value of its declared type."""
    typed = {
        "type": "function",
        "function": {
            "name": "plan",
            "parameters": {
                "type": "object",
                "properties": {
                    "steps": {"type": "integer"},
                    "mode": {"type": "string", "enum": ["fast", "slow"]},
                    "items": {"type": "array"},
                    "dry": {"type": "boolean"},
                    "note": {"type": "string"},
                },
                "required": ["steps", "mode", "items", "dry"],
            },
        },
    }
    with fake_server("Just talking.</think>No tools today.") as (base, _):
        sdk = client(base)
        auto = sdk.chat.completions.create(model="glm-test", messages=USER, tools=[WEATHER_TOOL, typed])
        assert not auto.choices[0].message.tool_calls  # auto: the script as written
        forced = sdk.chat.completions.create(
            model="glm-test", messages=USER, tools=[WEATHER_TOOL, typed], tool_choice="required"
        )
        (call,) = forced.choices[0].message.tool_calls or []
        assert (call.function.name, call.function.arguments) == ("get_weather", '{"city": "example"}')
        assert forced.choices[0].finish_reason == "tool_calls"
        named = sdk.chat.completions.create(
            model="glm-test",
            messages=USER,
            tools=[WEATHER_TOOL, typed],
            tool_choice={"type": "function", "function": {"name": "plan"}},
        )
        (call,) = named.choices[0].message.tool_calls or []
        assert call.function.name == "plan"
        assert json.loads(call.function.arguments) == {"steps": 1, "mode": "fast", "items": [], "dry": True}
