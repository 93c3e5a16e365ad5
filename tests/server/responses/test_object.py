"""The response object: every field OpenAI's has, with the values used; max_tool_calls; logprobs."""

from __future__ import annotations

from typing import Any

import httpx
from openai.types.responses import Response

from parsers import TextDelta
from server.core.events import LogprobsDelta, MessageEnd, MessageStart, TokenLogprob, TopLogprob, Usage
from server.core.request import SamplingValues
from server.responses import render
from server.responses.routes import _head
from server.responses.schema import ResponsesRequest
from tests.fake_server import TOOL_SCRIPT, client, fake_server

from .test_stream import APPLY_PATCH, WEATHER, raw_events

# The fields the Open Responses specification requires of every response object (its ResponseResource).
REQUIRED = {
    "id", "object", "created_at", "completed_at", "status", "incomplete_details", "model",
    "previous_response_id", "instructions", "output", "error", "tools", "tool_choice", "truncation",
    "parallel_tool_calls", "text", "top_p", "presence_penalty", "frequency_penalty", "top_logprobs",
    "temperature", "reasoning", "usage", "max_output_tokens", "max_tool_calls", "store", "background",
    "service_tier", "metadata", "safety_identifier", "prompt_cache_key",
}  # fmt: skip

ASKED = {
    "model": "glm-test",
    "input": "hi",
    "temperature": 0.3,
    "presence_penalty": 0.5,
    "top_logprobs": 3,
    "max_tool_calls": 2,
    "safety_identifier": "user-7",
    "tools": [WEATHER, APPLY_PATCH],
}


def check_echo(response: dict[str, Any]) -> None:
    assert response.keys() >= REQUIRED, REQUIRED - response.keys()
    # The request's values, and the fake backend's (neutral) ones for what it left unset.
    assert (response["temperature"], response["top_p"]) == (0.3, 1.0)
    assert (response["presence_penalty"], response["frequency_penalty"]) == (0.5, 0.0)
    assert (response["top_logprobs"], response["max_tool_calls"]) == (3, 2)
    assert (response["background"], response["safety_identifier"]) == (False, "user-7")
    assert response["tools"] == [
        {**WEATHER, "strict": False},  # strict as applied: only when the client asks
        {**APPLY_PATCH},
    ]
    Response.model_validate(response)  # the official SDK's own model of it


def test_every_field_with_the_values_used_whole_and_streamed() -> None:
    with fake_server("x</think>ok") as (base, backend):
        whole = httpx.post(base + "/v1/responses", json=ASKED).json()
        check_echo(whole)
        assert whole["completed_at"] >= whole["created_at"]
        s = backend.requests[-1].sampling
        assert (s.temperature, s.presence_penalty, s.top_logprobs, s.logprobs) == (0.3, 0.5, 3, False)

        _, events = raw_events(base, ASKED)
        lifecycle = {e["type"]: e["response"] for e in events if "response" in e}
        for kind in ("response.created", "response.in_progress", "response.completed"):
            check_echo(lifecycle[kind])
        assert lifecycle["response.created"]["completed_at"] is None
        assert lifecycle["response.completed"]["completed_at"] >= lifecycle["response.created"]["created_at"]
        # What GET returns of a stored one is the same object.
        got = httpx.get(f"{base}/v1/responses/{whole['id']}").json()
        assert got == whole


def test_defaults_come_from_what_the_backend_says_it_used() -> None:
    """A backend's MessageStart names the values it sampled with; the object reports those, not the
    request's Nones."""
    body = ResponsesRequest(model="m", input="hi")
    output = render.Output(_head(body, SamplingValues()), streaming=False)
    output.feed(MessageStart("r", "m", 1, "local", SamplingValues(temperature=1.0, top_p=0.95)))
    output.feed(MessageEnd("stop", Usage(1, 1)))
    assert (output.response["temperature"], output.response["top_p"]) == (1.0, 0.95)


def test_calls_past_max_tool_calls_are_ignored() -> None:
    with fake_server(TOOL_SCRIPT) as (base, _):  # the model calls get_weather twice
        body = {"model": "glm-test", "input": "hi", "tools": [WEATHER], "max_tool_calls": 1}
        whole = httpx.post(base + "/v1/responses", json=body).json()
        calls = [i for i in whole["output"] if i["type"] == "function_call"]
        assert [c["arguments"] for c in calls] == ['{"city": "Paris", "days": 2}']
        _, events = raw_events(base, body)
        added = [e["item"]["type"] for e in events if e["type"] == "response.output_item.added"]
        assert added == ["reasoning", "message", "function_call"]
        assert all("東京" not in e.get("delta", "") for e in events)
        # Without the cap both come back.
        both = httpx.post(base + "/v1/responses", json={**body, "max_tool_calls": None}).json()
        assert sum(i["type"] == "function_call" for i in both["output"]) == 2


def test_logprobs_ride_on_the_answer_when_included() -> None:
    """The engine reports each step's logprobs after its text: they go on the next delta, and the whole
    list on the finished part."""
    hello = TokenLogprob("Hel", -0.1, (TopLogprob("Hel", -0.1), TopLogprob("Hi", -2.5)))
    there = TokenLogprob("lo", -0.2)
    output = render.Output(_head(ResponsesRequest(model="m", input="hi"), SamplingValues()))
    frames = []
    for event in (
        MessageStart("r", "m", 1),
        TextDelta("Hel"),
        LogprobsDelta((hello,)),
        TextDelta("lo"),
        LogprobsDelta((there,)),
        MessageEnd("stop", Usage(1, 2)),
    ):
        frames += output.feed(event)
    text = b"".join(frames).decode()
    assert '"delta":"Hel"' in text and '"logprobs":[],"delta":"Hel"' in text
    assert '"logprobs":[{"token":"Hel","logprob":-0.1' in text  # on the second delta
    part = output.items[0]["content"][0]
    assert part["logprobs"] == [hello.as_openai(), there.as_openai()]
    assert part["logprobs"][0]["top_logprobs"][1] == {"token": "Hi", "logprob": -2.5, "bytes": [72, 105]}


def test_logprobs_are_asked_of_the_backend_only_when_included() -> None:
    with fake_server("x</think>ok") as (base, backend):
        body = {"model": "glm-test", "input": "hi", "top_logprobs": 2}
        client(base).responses.create(**body, include=["message.output_text.logprobs"])
        s = backend.requests[-1].sampling
        assert (s.logprobs, s.top_logprobs) == (True, 2)
