"""/v1/responses through the official openai SDK over real HTTP on the fake backend: events, ids, folds."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from parsers import render_tool_call
from server.app import create_app
from server.settings import Settings
from tests.conftest import live_server
from tests.fake_server import TOOL_SCRIPT, WEATHER_TOOL, client, fake_server
from tests.integration.app.test_streams import FailingBackend

WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather for a city.",
    "parameters": WEATHER_TOOL["function"]["parameters"],
}
PATCH = '*** Begin Patch\n*** Update File: app.py\n@@\n-print("old")\n+print("new \\\\ 東京")\n*** End Patch'
APPLY_PATCH = {
    "type": "custom",
    "name": "apply_patch",
    "description": "Edit files with a patch.",
    "format": {"type": "grammar", "syntax": "lark", "definition": 'start: "*** Begin Patch" /(.|\\n)*/'},
}
PATCH_SCRIPT = "A patch will do.</think>" + render_tool_call("apply_patch", {"input": PATCH}, "glm47")


@pytest.fixture(scope="module")
def tool_server() -> Iterator[str]:
    with fake_server(TOOL_SCRIPT) as (base, _):
        yield base


def raw_events(base: str, body: dict[str, Any]) -> tuple[httpx.Headers, list[dict[str, Any]]]:
    """The SSE events as sent (event name checked against the payload's type)."""
    events = []
    with httpx.stream("POST", base + "/v1/responses", json={**body, "stream": True}, timeout=30) as r:
        assert r.status_code == 200, r.read()
        name = None
        for line in r.iter_lines():
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                event = json.loads(line[6:])
                assert event["type"] == name
                events.append(event)
        return r.headers, events


def without_ids(value: Any) -> Any:
    """Items without their per-response ids (two requests never share ids), nor the SDK's parsed fields."""
    if isinstance(value, list):
        return [without_ids(v) for v in value]
    if isinstance(value, dict):
        return {
            k: without_ids(v)
            for k, v in value.items()
            if k not in ("id", "call_id", "parsed", "parsed_arguments")
        }
    return value


def test_stream_events_are_numbered_and_ids_are_stable(tool_server: str) -> None:
    body = {"model": "glm-test", "input": "Weather in Paris and Tokyo?", "tools": [WEATHER]}
    _, events = raw_events(tool_server, body)
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    assert [e["type"] for e in events[:2]] == ["response.created", "response.in_progress"]
    assert events[-1]["type"] == "response.completed"
    response_id = events[0]["response"]["id"]
    assert all(e["response"]["id"] == response_id for e in events if "response" in e)
    added = {e["output_index"]: e["item"] for e in events if e["type"] == "response.output_item.added"}
    done = {e["output_index"]: e["item"] for e in events if e["type"] == "response.output_item.done"}
    final = events[-1]["response"]["output"]
    assert [i["id"] for i in final] == [added[n]["id"] for n in range(len(final))]
    assert final == [done[n] for n in range(len(final))]
    for e in events:  # every delta names the item it belongs to
        if "item_id" in e:
            assert e["item_id"] == added[e["output_index"]]["id"]
    assert [i["type"] for i in final] == ["reasoning", "message", "function_call", "function_call"]
    assert [json.loads(i["arguments"]) for i in final[2:]] == [
        {"city": "Paris", "days": 2},
        {"city": "東京", "days": 1},
    ]
    deltas = "".join(e["delta"] for e in events if e["type"] == "response.function_call_arguments.delta")
    assert deltas == final[2]["arguments"] + final[3]["arguments"]
    assert final[0]["content"] == [{"type": "reasoning_text", "text": "I need the weather for two cities."}]
    assert final[1]["content"][0]["text"] == "Checking both."
    usage = events[-1]["response"]["usage"]
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"] > 0
    assert usage["output_tokens_details"]["reasoning_tokens"] > 0


def test_sdk_stream_accumulates_to_the_whole_response(tool_server: str) -> None:
    c = client(tool_server)
    kwargs: dict[str, Any] = {"model": "glm-test", "input": "Weather?", "tools": [WEATHER]}
    with c.responses.stream(**kwargs) as stream:
        types = {event.type for event in stream}
        streamed = stream.get_final_response()
    whole = c.responses.create(**kwargs)
    assert whole.status == streamed.status == "completed"
    assert without_ids(whole.to_dict()["output"]) == without_ids(streamed.to_dict()["output"])
    assert whole.usage == streamed.usage
    assert {"response.output_text.delta", "response.reasoning_text.delta"} <= types
    calls = [o for o in whole.output if o.type == "function_call"]
    assert [c.name for c in calls] == ["get_weather", "get_weather"] and calls[0].call_id.startswith("call_")


def test_every_event_type_and_a_custom_tool_call() -> None:
    with fake_server(PATCH_SCRIPT) as (base, backend):
        body = {
            "model": "glm-test",
            "input": "Fix app.py",
            "tools": [APPLY_PATCH, WEATHER],
            "reasoning": {"summary": "auto"},
            "include": ["reasoning.encrypted_content"],
        }
        _, events = raw_events(base, body)
        seen = {e["type"] for e in events}
        assert seen >= {
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.output_item.done",
            "response.content_part.added",
            "response.content_part.done",
            "response.reasoning_text.delta",
            "response.reasoning_text.done",
            "response.reasoning_summary_part.added",
            "response.reasoning_summary_part.done",
            "response.reasoning_summary_text.delta",
            "response.reasoning_summary_text.done",
            "response.custom_tool_call_input.delta",
            "response.custom_tool_call_input.done",
            "response.completed",
        }
        reasoning, call = events[-1]["response"]["output"]
        assert reasoning["summary"] == [{"type": "summary_text", "text": "A patch will do."}]
        assert reasoning["encrypted_content"].startswith("glm1.")
        assert call["type"] == "custom_tool_call" and call["name"] == "apply_patch"
        assert call["input"] == PATCH
        streamed = "".join(e["delta"] for e in events if e["type"] == "response.custom_tool_call_input.delta")
        assert streamed == PATCH
        # GLM saw the custom tool as a function with one string argument.
        (tool,) = [t for t in backend.requests[-1].tools if t.name == "apply_patch"]
        assert list(tool.parameters["properties"]) == ["input"]
        assert "*** Begin Patch" in tool.parameters["properties"]["input"]["description"]
        # The text and message events too (a plain answer):
        backend._script = lambda _req: "Short.</think>Done."
        _, events = raw_events(base, {"model": "glm-test", "input": "hi"})
        assert {"response.output_text.delta", "response.output_text.done"} <= {e["type"] for e in events}


def test_function_call_events_name_their_arguments(tool_server: str) -> None:
    _, events = raw_events(tool_server, {"model": "glm-test", "input": "x", "tools": [WEATHER]})
    done = [e for e in events if e["type"] == "response.function_call_arguments.done"]
    assert [e["name"] for e in done] == ["get_weather", "get_weather"]


def test_max_output_tokens_makes_an_incomplete_response() -> None:
    with fake_server("Thinking long.</think>" + "word " * 100) as (base, _):
        _, events = raw_events(base, {"model": "glm-test", "input": "hi", "max_output_tokens": 12})
        assert events[-1]["type"] == "response.incomplete"
        response = events[-1]["response"]
        assert response["status"] == "incomplete"
        assert response["incomplete_details"] == {"reason": "max_output_tokens"}
        assert response["output"][-1]["status"] == "incomplete"
        whole = client(base).responses.create(model="glm-test", input="hi", max_output_tokens=12)
        assert whole.status == "incomplete" and whole.incomplete_details.reason == "max_output_tokens"


def test_error_after_the_stream_began_is_response_failed() -> None:
    backend = FailingBackend("</think>a long answer that never finishes")
    with live_server(create_app(Settings(backend="fake"), backend)) as base:
        _, events = raw_events(base, {"model": "glm-fake", "input": "hi"})
        assert events[-1]["type"] == "response.failed"
        assert events[-1]["response"]["status"] == "failed"
        assert events[-1]["response"]["error"]["code"] == "service_unavailable"
        assert "engine has stopped" in events[-1]["response"]["error"]["message"]
        # Before the first byte, the same failure is an HTTP status in OpenAI's shape.
        r = httpx.post(base + "/v1/responses", json={"model": "glm-fake", "input": "hi"})
        assert r.status_code == 503 and r.json()["error"]["type"] == "service_unavailable"


def test_errors_before_the_stream_are_statuses_in_openai_shape() -> None:
    with fake_server(context_length=64) as (base, _):
        c = client(base)
        with pytest.raises(openai.NotFoundError) as unknown:
            c.responses.create(model="nope", input="hi")
        assert unknown.value.body["code"] == "model_not_found"  # type: ignore[index]
        with pytest.raises(openai.BadRequestError) as long_prompt:
            c.responses.create(model="glm-test", input="word " * 500)
        assert long_prompt.value.body["code"] == "context_length_exceeded"  # type: ignore[index]
        cases: list[tuple[dict[str, Any], str]] = [
            (
                {"input": [{"role": "user", "content": [{"type": "input_image", "image_url": "x"}]}]},
                "input",  # a text-only model
            ),
            ({"input": "hi", "tool_choice": {"type": "web_search"}}, "tool_choice"),
            ({"input": "hi", "tool_choice": "required"}, "tool_choice"),
            ({"input": "hi", "background": True}, "background"),
            ({"input": [{"type": "item_reference", "id": "msg_1"}]}, "input[0].id"),
            ({"input": [{"role": "wizard", "content": "hi"}]}, "input"),
            ({"input": ""}, "input"),
            ({"input": "hi", "text": {"format": {"type": "json_schema", "name": "x"}}}, "text.format.schema"),
        ]
        for extra, param in cases:
            r = httpx.post(base + "/v1/responses", json={"model": "glm-test", **extra})
            assert r.status_code == 400, (extra, r.text)
            error = r.json()["error"]
            assert error["type"] == "invalid_request_error" and (error["param"] or "").startswith(param), (
                error
            )
