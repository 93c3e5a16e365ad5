"""The hosted backend against the offline stand-in of the hosted API, over real HTTP, with the SDKs."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import anthropic
import httpx
import openai
import pytest
from fastapi import FastAPI

from server.app import create_app
from server.backends.remote.hosted import HostedBackend
from server.backends.remote.hosted_api import error_from, hosted_model
from server.core.errors import ContextTooLong, InvalidRequest, ModelNotFound, RateLimited, UpstreamError
from server.settings import Settings
from server.standin.hosted import RETRY_AFTER, create_standin
from server.standin.reply import CONTENT, REASONING
from tests.conftest import free_port, live_server, live_standin

KEY = "0123456789abcdef0123456789abcdef.s3cretS3cret"
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
                "required": ["city"],
            },
        },
    }
]
USER = [{"role": "user", "content": "Hi"}]


@pytest.fixture(scope="module")
def standin() -> Iterator[tuple[str, FastAPI]]:
    app = create_standin(api_key=KEY, slow_seconds=1.0)
    with live_standin(app, KEY) as base:
        yield base.removesuffix("/api/paas/v4"), app


@contextmanager
def glm_serve(standin_base: str, **overrides: Any) -> Iterator[str]:
    options: dict[str, Any] = {"hosted_retries": 2, **overrides}
    settings = Settings(backend="hosted", hosted_base_url=standin_base + "/api/paas/v4", **options)
    backend = HostedBackend(settings.remote, key=KEY, backoff=0.01)
    with live_server(create_app(settings, backend)) as base:
        yield base


@pytest.fixture(scope="module")
def server(standin: tuple[str, FastAPI]) -> Iterator[str]:
    with glm_serve(standin[0]) as base:
        yield base


def sdk(base: str, scenario: str | None = None) -> openai.OpenAI:
    headers = {"x-mock-scenario": scenario} if scenario else None
    return openai.OpenAI(base_url=base + "/v1", api_key="x", max_retries=0, default_headers=headers)


def _fold(stream: Any) -> tuple[str, str, list[tuple[str, str]], str | None, Any]:
    reasoning = content = ""
    calls: dict[int, list[str]] = {}
    finish = usage = None
    for chunk in stream:
        usage = chunk.usage or usage
        for c in chunk.choices:
            reasoning += getattr(c.delta, "reasoning_content", None) or ""
            content += c.delta.content or ""
            for tc in c.delta.tool_calls or []:
                slot = calls.setdefault(tc.index, ["", ""])
                slot[0] += tc.function.name or ""
                slot[1] += tc.function.arguments or ""
            finish = c.finish_reason or finish
    return reasoning, content, [(n, a) for n, a in calls.values()], finish, usage


def test_chat_streamed_and_whole(server: str) -> None:
    # The scenario header only reaches the stand-in if glm-serve forwarded it; it must not, so "ok" it is.
    with sdk(server) as c:
        whole = c.chat.completions.create(model="glm-4.7", messages=USER)
        assert whole.id != c.chat.completions.create(model="glm-4.7", messages=USER).id  # ids are unique
        msg = whole.choices[0].message
        assert (msg.reasoning_content, msg.content) == (REASONING, CONTENT)  # type: ignore[attr-defined]
        assert whole.usage is not None and whole.usage.completion_tokens_details.reasoning_tokens > 0  # type: ignore[union-attr]
        reasoning, content, calls, finish, usage = _fold(
            c.chat.completions.create(
                model="glm-4.7", messages=USER, stream=True, stream_options={"include_usage": True}
            )
        )
    assert (reasoning, content, calls, finish) == (REASONING, CONTENT, [], "stop")
    assert usage.completion_tokens == whole.usage.completion_tokens


def test_tool_calls_streamed_in_pieces_and_whole(server: str) -> None:
    with sdk(server) as c:
        whole = c.chat.completions.create(model="glm-4.7", messages=USER, tools=TOOLS)
        call = (whole.choices[0].message.tool_calls or [])[0]
        assert whole.choices[0].finish_reason == "tool_calls"
        assert (call.function.name, json.loads(call.function.arguments)) == (
            "get_weather",
            {"city": "example"},
        )
        _, _, calls, finish, _ = _fold(
            c.chat.completions.create(model="glm-4.7", messages=USER, tools=TOOLS, stream=True)
        )
    assert finish == "tool_calls" and calls == [(call.function.name, call.function.arguments)]


def test_requests_are_adapted_to_the_hosted_api(standin: tuple[str, FastAPI], server: str) -> None:
    _, app = standin
    history = [
        {"role": "developer", "content": "Be brief."},
        *USER,
        {
            "role": "assistant",
            "content": "",
            "reasoning_content": "thought",
            "tool_calls": [
                {
                    "id": "c1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
    ]
    with sdk(server) as c:
        c.chat.completions.create(
            model="glm-4.5-air",
            messages=history,
            temperature=1.7,
            top_p=0.001,
            max_completion_tokens=50,
            tools=TOOLS,
            stop=["END"],
            extra_body={"thinking": {"type": "enabled", "clear_thinking": False}},
        )
    body = app.state.requests[-1]
    assert body["model"] == "glm-4.5-air"
    assert body["temperature"] == 1.0 and body["top_p"] == 0.01 and body["max_tokens"] == 50
    assert [m["role"] for m in body["messages"]] == ["system", "user", "assistant", "tool"]
    assistant = body["messages"][2]
    assert assistant["reasoning_content"] == "thought"
    assert json.loads(assistant["tool_calls"][0]["function"]["arguments"]) == {"city": "Oslo"}
    assert body["thinking"] == {"type": "enabled", "clear_thinking": False}
    assert body["tool_choice"] == "auto" and body["tool_stream"] is True and body["stop"] == ["END"]
    with sdk(server) as c, pytest.raises(openai.BadRequestError, match="single stop"):
        c.chat.completions.create(model="glm-4.7", messages=USER, stop=["a", "b"])


def test_model_names_map_both_ways() -> None:
    s = Settings(hosted_model="glm-5.1", hosted_model_map={"my-box": "glm-4.6"})
    assert hosted_model("GLM-4.7-FP8", s.remote) == "glm-4.7"
    assert hosted_model("/data/GLM-4.5-Air-FP8", s.remote) == "glm-4.5-air"
    assert hosted_model("my-box", s.remote) == "glm-4.6"
    assert hosted_model("something-else", s.remote) == "glm-5.1"


@pytest.mark.parametrize("scenario", ["rate_limit:2", "server_error:2", "overload:1"])
def test_transient_failures_are_retried(standin: tuple[str, FastAPI], scenario: str) -> None:
    base, app = standin
    with glm_serve(base) as server:
        before = len(app.state.requests)
        transport = httpx.HTTPTransport()
        with openai.OpenAI(
            base_url=server + "/v1", api_key="x", max_retries=0, http_client=httpx.Client(transport=transport)
        ) as c:
            # glm-serve does not forward client headers, so the scenario goes in the stand-in's default.
            app_scenario(app, scenario)
            r = c.chat.completions.create(model="glm-4.7", messages=USER)
        app_scenario(app, "ok")
    assert r.choices[0].message.content == CONTENT
    assert len(app.state.requests) - before == int(scenario.split(":")[1]) + 1


def app_scenario(app: FastAPI, scenario: str) -> None:
    app.state.scenario = scenario


@pytest.mark.parametrize(
    ("scenario", "status", "code", "attempts"),
    [
        ("balance", 429, "insufficient_quota", 1),  # final: retrying cannot help
        ("rate_limit", 429, "rate_limit_exceeded", 3),  # retried twice, then given up
        ("server_error", 502, "500", 3),
    ],
)
def test_failures_become_clean_errors(
    standin: tuple[str, FastAPI],
    scenario: str,
    status: int,
    code: str,
    attempts: int,
    caplog: pytest.LogCaptureFixture,
) -> None:
    base, app = standin
    caplog.set_level(logging.DEBUG)
    with glm_serve(base) as server, sdk(server) as c:
        before = len(app.state.requests)
        app_scenario(app, scenario)
        try:
            with pytest.raises(openai.APIStatusError) as info:
                c.chat.completions.create(model="glm-4.7", messages=USER)
            with pytest.raises(openai.APIStatusError) as streamed:
                c.chat.completions.create(model="glm-4.7", messages=USER, stream=True)
        finally:
            app_scenario(app, "ok")
    assert info.value.status_code == streamed.value.status_code == status
    assert info.value.code == code
    assert len(app.state.requests) - before == 2 * attempts
    assert KEY not in caplog.text and KEY.split(".")[1] not in caplog.text


def test_slow_first_byte_is_waited_for_and_a_dead_upstream_times_out(standin: tuple[str, FastAPI]) -> None:
    base, app = standin
    app_scenario(app, "slow_first_byte")
    try:
        with glm_serve(base) as server, sdk(server) as c:
            assert c.chat.completions.create(model="glm-4.7", messages=USER).choices[0].message.content
        with (
            glm_serve(base, hosted_timeout=0.3, hosted_retries=1) as server,
            sdk(server) as c,
            pytest.raises(openai.APIStatusError) as info,
        ):
            c.chat.completions.create(model="glm-4.7", messages=USER)
        assert info.value.status_code == 503
    finally:
        app_scenario(app, "ok")


@pytest.mark.parametrize(
    ("scenario", "message"), [("drop_mid_stream", "stream broke"), ("network_error", "network_error")]
)
def test_failure_after_streaming_began_is_one_error_event(
    standin: tuple[str, FastAPI], server: str, scenario: str, message: str
) -> None:
    _, app = standin
    app_scenario(app, scenario)
    try:
        with httpx.stream(
            "POST",
            server + "/v1/chat/completions",
            json={"model": "glm-4.7", "messages": USER, "stream": True},
        ) as r:
            lines = [line for line in r.iter_lines() if line]
        whole = httpx.post(server + "/v1/chat/completions", json={"model": "glm-4.7", "messages": USER})
    finally:
        app_scenario(app, "ok")
    assert r.status_code == 200 and lines[-1] == "data: [DONE]"
    assert message in lines[-2] and sum('"error"' in line for line in lines) == 1
    assert whole.status_code == 502 and message in whole.json()["error"]["message"]


def test_content_filter_is_reported_as_such(standin: tuple[str, FastAPI], server: str) -> None:
    _, app = standin
    app_scenario(app, "content_filter")
    try:
        with sdk(server) as c:
            r = c.chat.completions.create(model="glm-4.7", messages=USER)
    finally:
        app_scenario(app, "ok")
    assert r.choices[0].finish_reason == "content_filter"


def test_anthropic_surface_over_the_hosted_backend(standin: tuple[str, FastAPI], server: str) -> None:
    _, app = standin
    with anthropic.Anthropic(base_url=server, api_key="x", max_retries=0) as c:
        msg = c.messages.create(model="glm-4.7", max_tokens=100, messages=USER)
        assert [b.type for b in msg.content] == ["thinking", "text"]
        with c.messages.stream(
            model="glm-4.7",
            max_tokens=100,
            messages=USER,
            tools=[{"name": "get_weather", "input_schema": TOOLS[0]["function"]["parameters"]}],
        ) as stream:
            final = stream.get_final_message()
        assert final.stop_reason == "tool_use" and final.content[-1].input == {"city": "example"}  # type: ignore[union-attr]
        app_scenario(app, "balance")
        try:
            with pytest.raises(anthropic.RateLimitError) as info:
                c.messages.create(model="glm-4.7", max_tokens=100, messages=USER)
        finally:
            app_scenario(app, "ok")
        assert info.value.body["error"]["type"] == "rate_limit_error"  # type: ignore[index]
        assert c.messages.count_tokens(model="glm-4.7", messages=USER).input_tokens > 0


def test_hosted_error_codes_map_to_our_errors() -> None:
    def err(code: str, status: int = 400) -> Exception:
        return error_from(status, {"error": {"code": code, "message": "m"}})

    assert isinstance(err("1211"), ModelNotFound)
    assert isinstance(err("1261"), ContextTooLong)
    assert isinstance(err("1214"), InvalidRequest) and isinstance(err("1210"), InvalidRequest)
    assert isinstance(err("1301"), InvalidRequest) and err("1301").code == "content_filter"  # type: ignore[attr-defined]
    assert isinstance(err("1113", 429), RateLimited) and isinstance(err("1302", 429), RateLimited)
    auth = err("1002", 401)
    assert isinstance(auth, UpstreamError) and "key" in str(auth)


def test_no_key_means_unhealthy_and_a_clear_503(standin: tuple[str, FastAPI]) -> None:
    settings = Settings(backend="hosted", hosted_base_url=standin[0] + "/api/paas/v4")
    with live_server(create_app(settings, HostedBackend(settings.remote, key=""))) as base:
        assert httpx.get(base + "/health").status_code == 503
        r = httpx.post(base + "/v1/chat/completions", json={"model": "glm-4.7", "messages": USER})
        assert r.status_code == 503 and "BIGMODEL_API_KEY" in r.json()["error"]["message"]


def test_auto_chooses_hosted_when_a_key_is_set_and_no_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    from server.app import choose_backend

    monkeypatch.setenv("ZAI_API_KEY", KEY)
    monkeypatch.delenv("BIGMODEL_API_KEY", raising=False)
    backend, _, why = choose_backend(Settings())
    assert backend.name == "hosted" and "hosted API key" in why
    monkeypatch.delenv("ZAI_API_KEY")
    backend, settings, why = choose_backend(Settings())
    assert backend.name == "local" and settings.engine.demo and "no model asked for" in why
    # A model asked for is never answered by the demo in its place.
    with pytest.raises(ValueError, match="needs a GPU"):
        choose_backend(Settings(model="zai-org/GLM-4.5-Air"))


def test_json_mode_passes_through_and_what_the_hosted_api_lacks_is_refused(
    standin: tuple[str, FastAPI], server: str
) -> None:
    _, app = standin
    with sdk(server) as c:
        r = c.chat.completions.create(model="glm-4.7", messages=USER, response_format={"type": "json_object"})
        assert app.state.requests[-1]["response_format"] == {"type": "json_object"}
        assert isinstance(json.loads(r.choices[0].message.content or ""), dict)
        refused: list[dict[str, Any]] = [
            {"tools": TOOLS, "tool_choice": "required"},
            {"tools": TOOLS, "tool_choice": {"type": "function", "function": {"name": "get_weather"}}},
            {
                "response_format": {
                    "type": "json_schema",
                    "json_schema": {"name": "a", "schema": {"type": "object"}},
                }
            },
        ]
        sent = len(app.state.requests)
        for kwargs in refused:
            with pytest.raises(openai.BadRequestError) as info:
                c.chat.completions.create(model="glm-4.7", messages=USER, **kwargs)
            assert "hosted API" in info.value.message
        assert len(app.state.requests) == sent  # refused here, not spent upstream
    with anthropic.Anthropic(base_url=server, api_key="x", max_retries=0) as ac:
        tools = [{"name": "get_weather", "input_schema": TOOLS[0]["function"]["parameters"]}]  # type: ignore[index]
        with pytest.raises(anthropic.BadRequestError, match="tool_choice"):
            ac.messages.create(
                model="glm-4.7",
                max_tokens=10,
                messages=USER,
                tools=tools,
                tool_choice={"type": "any"},  # type: ignore[arg-type]
            )


def test_standin_refuses_what_the_hosted_api_refuses(standin: tuple[str, FastAPI]) -> None:
    base, _ = standin
    url = base + "/api/paas/v4/chat/completions"
    headers = {"Authorization": f"Bearer {KEY}"}
    for extra in ({"tool_choice": "required", "tools": TOOLS}, {"response_format": {"type": "json_schema"}}):
        r = httpx.post(url, headers=headers, json={"model": "glm-4.7", "messages": USER, **extra})
        assert r.status_code == 400 and r.json()["error"]["code"] == "1214"


def test_the_hosted_retry_after_is_passed_on_without_waiting(standin: tuple[str, FastAPI]) -> None:
    base, app = standin
    with glm_serve(base) as server:
        before = len(app.state.requests)
        app_scenario(app, "rate_limit_wait")
        try:
            r = httpx.post(server + "/v1/chat/completions", json={"model": "glm-4.7", "messages": USER})
            claude = {"model": "glm-4.7", "messages": USER, "max_tokens": 8}
            a = httpx.post(server + "/v1/messages", json=claude)
        finally:
            app_scenario(app, "ok")
    assert r.status_code == a.status_code == 429
    assert r.headers["retry-after"] == a.headers["retry-after"] == str(RETRY_AFTER)
    assert len(app.state.requests) - before == 2  # longer than this server waits: passed on at once


def test_an_error_after_our_retries_tells_the_client_not_to_retry(standin: tuple[str, FastAPI]) -> None:
    base, app = standin
    with glm_serve(base) as server:
        app_scenario(app, "rate_limit")
        try:
            retried = httpx.post(server + "/v1/chat/completions", json={"model": "glm-4.7", "messages": USER})
        finally:
            app_scenario(app, "ok")
        app_scenario(app, "rate_limit:1")
        with glm_serve(base, hosted_retries=0) as once:
            try:
                first = httpx.post(once + "/v1/chat/completions", json={"model": "glm-4.7", "messages": USER})
            finally:
                app_scenario(app, "ok")
    assert retried.status_code == first.status_code == 429
    # The OpenAI and Anthropic SDKs obey x-should-retry: our three attempts are not multiplied by theirs.
    assert retried.headers["x-should-retry"] == "false"
    assert "x-should-retry" not in first.headers  # not retried here: the client's own retry is welcome


def test_health_follows_the_upstream_and_errors_never_name_it() -> None:
    port = free_port()  # nothing listens here
    settings = Settings(backend="hosted", hosted_base_url=f"http://127.0.0.1:{port}/api/paas/v4")
    backend = HostedBackend(settings.remote, key=KEY, backoff=0.01)
    with live_server(create_app(settings, backend)) as server:
        health = httpx.get(server + "/health")
        assert health.status_code == 503
        assert health.json()["status"] == "dead"
        assert "unreachable" in health.json()["detail"]
        r = httpx.post(server + "/v1/chat/completions", json={"model": "glm-4.7", "messages": USER})
        assert r.status_code == 503
        assert "unreachable" in r.json()["error"]["message"]
        assert "127.0.0.1" not in r.text and str(port) not in r.text and str(port) not in health.text


def test_health_is_ok_while_the_upstream_answers(server: str) -> None:
    health = httpx.get(server + "/health")
    assert (health.status_code, health.json()["status"]) == (200, "ok")


def test_a_responses_object_reports_what_the_hosted_model_samples_with(server: str) -> None:
    """The hosted API's documented defaults for the model where the request sets none, and the value it
    was sent (clamped to its range) where it does; it takes no penalties."""
    with sdk(server) as c:
        glm45 = c.responses.create(model="glm-4.5-air", input="hi")
        vision = c.responses.create(model="glm-4.6v", input="hi", top_p=0.3)
        clamped = c.responses.create(
            model="glm-4.7", input="hi", temperature=1.7, extra_body={"presence_penalty": 1.0}
        )
    assert (glm45.temperature, glm45.top_p) == (0.6, 0.95)
    assert (vision.temperature, vision.top_p) == (0.8, 0.3)
    assert (clamped.temperature, clamped.top_p) == (1.0, 0.95)
    assert clamped.model_extra and clamped.model_extra["presence_penalty"] == 0.0


def test_thinking_is_fitted_to_the_hosted_model(standin: tuple[str, FastAPI], server: str) -> None:
    """GLM-5.3 always thinks (the hosted API refuses thinking: disabled for it): thinking off is sent as
    its lowest effort, and a response header says so; a level it lacks is the nearest below."""
    _, app = standin
    with sdk(server) as c:
        off = c.chat.completions.with_raw_response.create(
            model="glm-5.3", messages=USER, extra_body={"thinking": {"type": "disabled"}}
        )
        assert off.status_code == 200
        assert "lowest effort, low" in off.headers["x-glm-serve-thinking"]
        body = app.state.requests[-1]
        assert "thinking" not in body and body["reasoning_effort"] == "low"
        medium = c.chat.completions.with_raw_response.create(
            model="glm-5.3", messages=USER, extra_body={"reasoning_effort": "medium"}
        )
        assert app.state.requests[-1]["reasoning_effort"] == "low"
        assert "medium became low" in medium.headers["x-glm-serve-thinking"]
        # A model that can turn thinking off is sent exactly what was asked, with no header.
        plain = c.chat.completions.with_raw_response.create(
            model="glm-4.7", messages=USER, extra_body={"thinking": {"type": "disabled"}}
        )
        assert app.state.requests[-1]["thinking"] == {"type": "disabled"}
        assert "x-glm-serve-thinking" not in plain.headers
    # Claude Code's adaptive thinking with an effort, over the Messages wire.
    with anthropic.Anthropic(base_url=server, api_key="unused", max_retries=0) as a:
        a.messages.create(
            model="glm-5.3",
            max_tokens=64,
            messages=[{"role": "user", "content": "hi"}],
            thinking={"type": "adaptive"},  # type: ignore[typeddict-item]
            extra_body={"output_config": {"effort": "low"}},
        )
        assert app.state.requests[-1]["reasoning_effort"] == "low"
        a.messages.create(
            model="glm-5.3",
            max_tokens=64,
            messages=[{"role": "user", "content": "hi"}],
            thinking={"type": "enabled", "budget_tokens": 10000},
        )
        assert app.state.requests[-1]["reasoning_effort"] == "high"
