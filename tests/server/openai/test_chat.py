"""Chat completions through the official openai SDK against the fake backend over real HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from tests.fake_server import READ_TOOL, TOOL_SCRIPT, WEATHER_TOOL, client, fake_server

USER = [{"role": "user", "content": "What is the weather?"}]


@pytest.fixture(scope="module")
def tool_server() -> Iterator[str]:
    with fake_server(TOOL_SCRIPT) as (base, _):
        yield base


def _fold_stream(chunks: Any) -> dict[str, Any]:
    """Accumulate a streamed response the way OpenAI clients do."""
    reasoning = content = ""
    calls: dict[int, dict[str, Any]] = {}
    finish = usage = None
    for chunk in chunks:
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            delta = choice.delta
            reasoning += getattr(delta, "reasoning_content", None) or ""
            content += delta.content or ""
            for tc in delta.tool_calls or []:
                slot = calls.setdefault(tc.index, {"id": None, "name": None, "arguments": ""})
                if tc.id:
                    assert slot["id"] is None, "a call's id is sent once"
                    slot["id"] = tc.id
                if tc.function and tc.function.name:
                    assert slot["name"] is None, "a call's name is sent once, whole"
                    slot["name"] = tc.function.name
                if tc.function and tc.function.arguments:
                    slot["arguments"] += tc.function.arguments
            finish = choice.finish_reason or finish
    return {
        "reasoning": reasoning or None,
        "content": content or None,
        "finish": finish,
        "usage": usage,
        "calls": [calls[i] for i in sorted(calls)],
    }


def test_tool_calls_streamed_and_whole_agree(tool_server: str) -> None:
    c = client(tool_server)
    whole = c.chat.completions.create(model="glm-test", messages=USER, tools=[WEATHER_TOOL])
    msg = whole.choices[0].message
    assert whole.choices[0].finish_reason == "tool_calls"
    assert msg.content == "Checking both."
    assert msg.reasoning_content == "I need the weather for two cities."  # type: ignore[attr-defined]
    assert [(t.function.name, json.loads(t.function.arguments)) for t in msg.tool_calls or []] == [
        ("get_weather", {"city": "Paris", "days": 2}),
        ("get_weather", {"city": "東京", "days": 1}),
    ]
    assert all(t.id.startswith("call_") and t.type == "function" for t in msg.tool_calls or [])

    streamed = _fold_stream(
        c.chat.completions.create(
            model="glm-test",
            messages=USER,
            tools=[WEATHER_TOOL],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert streamed["finish"] == "tool_calls"
    assert streamed["reasoning"] == msg.reasoning_content  # type: ignore[attr-defined]
    assert streamed["content"] == msg.content
    assert [(s["name"], s["arguments"]) for s in streamed["calls"]] == [
        (t.function.name, t.function.arguments) for t in msg.tool_calls or []
    ]
    assert all(s["id"] for s in streamed["calls"])
    assert streamed["usage"].completion_tokens == whole.usage.completion_tokens  # type: ignore[union-attr]
    assert streamed["usage"].completion_tokens_details.reasoning_tokens > 0


def test_tool_choice_none_leaves_markup_as_text(tool_server: str) -> None:
    r = client(tool_server).chat.completions.create(
        model="glm-test", messages=USER, tools=[WEATHER_TOOL], tool_choice="none"
    )
    assert not r.choices[0].message.tool_calls
    assert "<tool_call>get_weather" in (r.choices[0].message.content or "")
    assert r.choices[0].finish_reason == "stop"


def test_reasoning_field_names_for_both_client_generations(tool_server: str) -> None:
    raw = client(tool_server).chat.completions.with_raw_response.create(
        model="glm-test", messages=USER, tools=[WEATHER_TOOL]
    )
    message = json.loads(raw.text)["choices"][0]["message"]
    assert message["reasoning_content"] == message["reasoning"] == "I need the weather for two cities."


def test_history_is_converted_for_the_template() -> None:
    history = [
        {"role": "developer", "content": "Be brief."},
        {"role": "user", "content": [{"type": "text", "text": "Weather?"}]},
        {
            "role": "assistant",
            "content": None,
            "reasoning_content": "Need the tool.",
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris", "days": 2}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": '{"temp": 20}'},
        {"role": "assistant", "content": "It is 20.", "reasoning": "Easy."},
    ]
    with fake_server() as (base, backend):
        client(base).chat.completions.create(model="glm-test", messages=history, tools=[WEATHER_TOOL])
        req = backend.requests[-1]
    system, user, call, tool, answer = req.messages  # type: ignore[union-attr]
    assert system.role == "system" and system.content == "Be brief."
    assert user.content == ("Weather?",)
    assert call.content == "" and call.reasoning == "Need the tool."
    assert call.tool_calls[0].arguments == {"city": "Paris", "days": 2}
    assert tool.tool_call_id == "call_1"
    assert answer.reasoning == "Easy."


@pytest.mark.parametrize(
    ("extra", "thinks"),
    [
        ({}, True),
        ({"extra_body": {"chat_template_kwargs": {"enable_thinking": False}}}, False),
        ({"extra_body": {"thinking": {"type": "disabled"}}}, False),
        ({"extra_body": {"thinking": {"type": "enabled", "clear_thinking": False}}}, True),
    ],
)
def test_thinking_controls(extra: dict[str, Any], thinks: bool) -> None:
    with fake_server("Plan.</think>Answer.") as (base, backend):
        r = client(base).chat.completions.create(model="glm-test", messages=USER, **extra)
        thinking = backend.requests[-1].thinking  # type: ignore[union-attr]
    assert (thinking.enabled is not False) == thinks
    if thinks:
        assert r.choices[0].message.content == "Answer."
    else:
        # Not thinking: the prompt does not open <think>, so the text before the stray </think> is content.
        assert r.choices[0].message.content == "Plan.Answer."
    if "clear_thinking" in json.dumps(extra):
        assert thinking.clear is False


def test_max_tokens_and_stop() -> None:
    with fake_server("</think>one two three four five six seven") as (base, _):
        c = client(base)
        cut = c.chat.completions.create(model="glm-test", messages=USER, max_tokens=3)
        assert cut.choices[0].finish_reason == "length"
        assert cut.usage is not None and cut.usage.completion_tokens == 3
        stopped = c.chat.completions.create(model="glm-test", messages=USER, stop=["four"])
        assert stopped.choices[0].finish_reason == "stop"
        assert stopped.choices[0].message.content == "one two three "  # up to the stop, as OpenAI's
        capped = c.chat.completions.create(model="glm-test", messages=USER, max_completion_tokens=2)
        assert capped.choices[0].finish_reason == "length"


@pytest.mark.parametrize("stream", [False, True])
def test_stop_strings_apply_to_the_answer_alone(stream: bool) -> None:
    """A stop string in the reasoning does not end the request there (an engine's own stop would, and
    the cut reasoning would come back as the answer); in the answer it does, even split across pieces."""
    with fake_server("I will say STOP later, then go on.</think>Here: one STOP two") as (base, backend):
        c = client(base)
        kwargs: dict[str, Any] = {"model": "glm-test", "messages": USER, "stop": ["STOP", "never"]}
        if stream:
            reasoning, content, finish = "", "", None
            for chunk in c.chat.completions.create(**kwargs, stream=True):
                for choice in chunk.choices:
                    reasoning += getattr(choice.delta, "reasoning_content", None) or ""
                    content += choice.delta.content or ""
                    finish = choice.finish_reason or finish
        else:
            message = c.chat.completions.create(**kwargs).choices[0]
            reasoning, content, finish = (
                message.message.reasoning_content,
                message.message.content,
                message.finish_reason,
            )  # type: ignore[attr-defined]
        assert reasoning == "I will say STOP later, then go on."
        assert (content, finish) == ("Here: one ", "stop")
        assert backend.requests[-1].sampling.stop == ("STOP", "never")


def test_n_choices() -> None:
    with fake_server("</think>same") as (base, _):
        c = client(base)
        r = c.chat.completions.create(model="glm-test", messages=USER, n=3, seed=7)
        assert [ch.index for ch in r.choices] == [0, 1, 2]
        assert all(ch.message.content == "same" for ch in r.choices)
        indexes = {
            ch.index
            for chunk in c.chat.completions.create(model="glm-test", messages=USER, n=2, stream=True)
            for ch in chunk.choices
        }
        assert indexes == {0, 1}


def test_named_tool_is_found_once_per_call_even_with_unknown_tools(tool_server: str) -> None:
    r = client(tool_server).chat.completions.create(model="glm-test", messages=USER, tools=[READ_TOOL])
    assert [t.function.name for t in r.choices[0].message.tool_calls or []] == ["get_weather", "get_weather"]


@pytest.mark.parametrize(
    ("kwargs", "status", "param"),
    [
        ({"model": "nope"}, 404, "model"),
        ({"temperature": 3}, 400, "temperature"),
        ({"messages": []}, 400, "messages"),
        ({"tool_choice": "required"}, 400, "tool_choice"),
        (
            {"tool_choice": {"type": "function", "function": {"name": "nope"}}, "tools": [WEATHER_TOOL]},
            400,
            "tool_choice",
        ),
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [{"type": "image_url", "image_url": {"url": "http://x/a.png"}}],
                    }
                ]
            },
            400,
            None,
        ),
    ],
)
def test_bad_requests_get_openai_errors(kwargs: dict[str, Any], status: int, param: str | None) -> None:
    with fake_server() as (base, _):
        args = {"model": "glm-test", "messages": USER, **kwargs}
        with pytest.raises(openai.APIStatusError) as info:
            client(base).chat.completions.create(**args)
    assert info.value.status_code == status
    error = info.value.body  # the SDK unwraps {"error": {...}}
    assert isinstance(error, dict)
    assert error["message"] and error["type"]
    if param:
        assert param in (error["param"] or "")


def test_prompt_longer_than_context_is_400() -> None:
    with fake_server(context_length=10) as (base, _), pytest.raises(openai.BadRequestError) as info:
        client(base).chat.completions.create(model="glm-test", messages=USER, stream=True)
    assert info.value.code == "context_length_exceeded"


def test_api_key_is_required_and_checked() -> None:
    with fake_server(api_key="s3cret") as (base, _):
        with pytest.raises(openai.AuthenticationError):
            client(base, "wrong").chat.completions.create(model="glm-test", messages=USER)
        with pytest.raises(openai.AuthenticationError):
            client(base, "wrong").models.list()
        assert client(base, "s3cret").models.list().data[0].id == "glm-test"
        import httpx

        assert httpx.get(base + "/health").status_code == 200
        assert httpx.get(base + "/metrics").status_code == 401
        assert httpx.get(base + "/metrics", headers={"x-api-key": "s3cret"}).status_code == 200
