"""The upstream backend: a raw-text OpenAI-compatible server's GLM output, parsed by us."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anthropic
import httpx
import openai
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import StreamingResponse

from parsers import render_tool_call
from server.app import create_app
from server.backends.remote.upstream import UpstreamBackend
from server.settings import Settings
from tests.conftest import live_server

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "read_file",
            "parameters": {
                "type": "object",
                "properties": {"path": {"type": "string"}, "limit": {"type": "integer"}},
                "required": ["path"],
            },
        },
    }
]
# What LM Studio / llama.cpp / Ollama pass through for GLM-4.7 without a GLM parser: raw text in content.
RAW = "The user wants a file.</think>Reading it." + render_tool_call(
    "read_file", {"path": "a.py", "limit": 20}, "glm47"
)


def raw_server(
    text: str, *, split_reasoning: bool = False, models: tuple[str, ...] = (), tokenize: bool = False
) -> FastAPI:
    app = FastAPI()
    app.state.bodies = []

    if tokenize:  # as vLLM's: at the root, {"count", "tokens"}; here a word is a token

        @app.post("/tokenize")
        async def tokenized(request: Request) -> dict[str, Any]:
            words = (await request.json())["prompt"].split()
            return {"count": len(words), "tokens": list(range(len(words)))}

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> StreamingResponse:
        body = await request.json()
        app.state.bodies.append(body)

        async def chunks() -> AsyncIterator[bytes]:
            pieces = [text[i : i + 5] for i in range(0, len(text), 5)]
            if split_reasoning:  # a server that already separates reasoning (vLLM with a reasoning parser)
                reasoning, _, rest = text.partition("</think>")
                pieces = [rest[i : i + 5] for i in range(0, len(rest), 5)]
                yield (
                    b"data: "
                    + json.dumps({"choices": [{"index": 0, "delta": {"reasoning": reasoning}}]}).encode()
                )
                yield b"\n\n"
            for piece in pieces:
                yield (
                    "data: " + json.dumps({"choices": [{"index": 0, "delta": {"content": piece}}]}) + "\n\n"
                ).encode()
            done = {
                "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 11, "completion_tokens": len(pieces)},
            }
            yield ("data: " + json.dumps(done) + "\n\ndata: [DONE]\n\n").encode()

        return StreamingResponse(chunks(), media_type="text/event-stream")

    @app.get("/v1/models")
    async def listed() -> dict[str, Any]:
        return {"object": "list", "data": [{"id": m, "object": "model"} for m in models]}

    return app


@pytest.fixture(params=[False, True], ids=["raw", "reasoning-split"])
def through_upstream(request: pytest.FixtureRequest) -> Iterator[tuple[str, FastAPI]]:
    upstream = raw_server(RAW, split_reasoning=request.param)
    with live_server(upstream) as up:
        settings = Settings(
            backend="upstream",
            upstream_url=up + "/v1",
            served_model_name="glm-4.7",
            upstream_model="GLM-4.7-Q4_K_M",
        )
        with live_server(create_app(settings, UpstreamBackend(settings.remote, settings.engine))) as base:
            yield base, upstream


def test_raw_glm_text_becomes_tool_calls_and_reasoning(through_upstream: tuple[str, FastAPI]) -> None:
    base, upstream = through_upstream
    with openai.OpenAI(base_url=base + "/v1", api_key="x", max_retries=0) as c:
        r = c.chat.completions.create(
            model="glm-4.7", messages=[{"role": "user", "content": "read a.py"}], tools=TOOLS
        )
        msg = r.choices[0].message
        assert r.choices[0].finish_reason == "tool_calls"
        assert msg.reasoning_content == "The user wants a file." and msg.content == "Reading it."  # type: ignore[attr-defined]
        call = (msg.tool_calls or [])[0]
        assert (call.function.name, json.loads(call.function.arguments)) == (
            "read_file",
            {"path": "a.py", "limit": 20},
        )
        args = ""
        for chunk in c.chat.completions.create(
            model="glm-4.7", messages=[{"role": "user", "content": "x"}], tools=TOOLS, stream=True
        ):
            for ch in chunk.choices:
                for tc in ch.delta.tool_calls or []:
                    args += tc.function.arguments or ""
        assert args == call.function.arguments
    sent = upstream.state.bodies[0]
    assert (
        sent["model"] == "GLM-4.7-Q4_K_M" and sent["stream"] is True and sent["tools"][0]["function"]["name"]
    )


def test_constraints_it_cannot_enforce_are_refused(through_upstream: tuple[str, FastAPI]) -> None:
    base, upstream = through_upstream
    with openai.OpenAI(base_url=base + "/v1", api_key="x", max_retries=0) as c:
        for kwargs in (
            {"tools": TOOLS, "tool_choice": "required"},
            {"response_format": {"type": "json_object"}},
        ):
            with pytest.raises(openai.BadRequestError, match="upstream backend cannot enforce"):
                c.chat.completions.create(
                    model="glm-4.7", messages=[{"role": "user", "content": "x"}], **kwargs
                )  # type: ignore[arg-type]
    assert not upstream.state.bodies


@pytest.mark.parametrize(
    ("frames", "message"),
    [
        (b'data: {"error": {"message": "model crashed"}}\n\n', "stream broke: error inside the stream"),
        (b"", "stream broke: the stream ended without [DONE]"),
    ],
    ids=["error-frame-first", "empty"],
)
def test_a_stream_that_fails_before_its_first_chunk_is_an_error_status(frames: bytes, message: str) -> None:
    upstream = FastAPI()

    @upstream.post("/v1/chat/completions")
    async def chat() -> StreamingResponse:
        async def body() -> AsyncIterator[bytes]:
            yield frames

        return StreamingResponse(body(), media_type="text/event-stream")

    @upstream.get("/v1/models")
    async def models() -> dict[str, Any]:
        return {"data": []}

    with live_server(upstream) as up:
        settings = Settings(backend="upstream", upstream_url=up + "/v1", served_model_name="glm-4.7")
        with (
            live_server(create_app(settings, UpstreamBackend(settings.remote, settings.engine))) as base,
            openai.OpenAI(base_url=base + "/v1", api_key="x", max_retries=0) as c,
        ):
            for stream in (False, True):
                with pytest.raises(openai.APIStatusError, match=re.escape(message)) as failed:
                    c.chat.completions.create(
                        model="glm-4.7", messages=[{"role": "user", "content": "x"}], stream=stream
                    )
                assert failed.value.status_code == 502


@pytest.mark.parametrize(
    ("listed", "asked", "sent", "status"),
    [
        (("GLM-4.7-Q4_K_M",), "glm-4.7", "GLM-4.7-Q4_K_M", 200),  # one model: any name means it
        (("GLM-4.7-Q4_K_M",), "GLM-4.7-Q4_K_M", "GLM-4.7-Q4_K_M", 200),
        (("glm-4.7", "glm-4.5-air"), "glm-4.5-air", "glm-4.5-air", 200),  # several: their own names
        (("glm-4.7", "glm-4.5-air"), "qwen3", None, 404),
    ],
)
def test_the_upstreams_own_model_names_are_served(
    listed: tuple[str, ...], asked: str, sent: str | None, status: int
) -> None:
    upstream = raw_server("Hi.</think>Hello.", models=listed)
    with live_server(upstream) as up:
        settings = Settings(backend="upstream", upstream_url=up + "/v1")  # no --served-model-name
        with (
            live_server(create_app(settings, UpstreamBackend(settings.remote, settings.engine))) as base,
            openai.OpenAI(base_url=base + "/v1", api_key="x", max_retries=0) as c,
        ):
            assert [m.id for m in c.models.list().data] == list(listed)
            try:
                c.chat.completions.create(model=asked, messages=[{"role": "user", "content": "x"}])
                got = 200
            except openai.NotFoundError:
                got = 404
    assert got == status
    if sent is not None:
        assert upstream.state.bodies[-1]["model"] == sent


def test_stop_strings_apply_to_the_answer_not_the_upstreams_reasoning(
    through_upstream: tuple[str, FastAPI],
) -> None:
    """The raw-text upstream is not sent the stop strings (it would cut inside the reasoning): they are
    applied here, to the answer, and the stream is closed at the match."""
    base, upstream = through_upstream
    with anthropic.Anthropic(base_url=base, api_key="x", max_retries=0) as a:
        message = a.messages.create(
            model="glm-4.7",
            max_tokens=100,
            messages=[{"role": "user", "content": "read a.py"}],
            stop_sequences=["wants", "it."],  # "wants" is in the reasoning only
        )
    assert "stop" not in upstream.state.bodies[-1]
    assert [(b.type, getattr(b, "thinking", None) or getattr(b, "text", None)) for b in message.content] == [
        ("thinking", "The user wants a file."),
        ("text", "Reading "),
    ]
    assert (message.stop_reason, message.stop_sequence) == ("stop_sequence", "it.")


@pytest.mark.parametrize("tokenize", [True, False])
def test_reasoning_tokens_are_counted_by_the_upstreams_tokenizer(tokenize: bool) -> None:
    upstream = raw_server(RAW, tokenize=tokenize)
    with live_server(upstream) as up:
        settings = Settings(backend="upstream", upstream_url=up + "/v1", served_model_name="glm-4.7")
        with live_server(create_app(settings, UpstreamBackend(settings.remote, settings.engine))) as base:
            body = {"model": "glm-4.7", "messages": [{"role": "user", "content": "x"}], "tools": TOOLS}
            usage = httpx.post(base + "/v1/chat/completions", json=body).json()["usage"]
            responses = httpx.post(base + "/v1/responses", json={"model": "glm-4.7", "input": "x"}).json()
    if tokenize:  # "The user wants a file." is five words
        assert usage["completion_tokens_details"] == {"reasoning_tokens": 5}
        assert responses["usage"]["output_tokens_details"]["reasoning_tokens"] == 5
    else:  # no /tokenize: left out where the wire allows, 0 where its schema needs a number
        assert "completion_tokens_details" not in usage
        assert responses["usage"]["output_tokens_details"]["reasoning_tokens"] == 0


def test_thinking_off_on_an_always_thinking_upstream_model_is_its_lowest_effort() -> None:
    """The same rule as on the other backends: GLM-5.3's template cannot turn thinking off, so the
    upstream is asked for its lowest effort instead, and the response says so."""
    upstream = raw_server(RAW, models=("GLM-5.3-FP8",))
    with live_server(upstream) as up:
        settings = Settings(backend="upstream", upstream_url=up + "/v1")
        with live_server(create_app(settings, UpstreamBackend(settings.remote, settings.engine))) as base:
            body = {
                "model": "GLM-5.3-FP8",
                "messages": [{"role": "user", "content": "x"}],
                "chat_template_kwargs": {"enable_thinking": False},
            }
            r = httpx.post(base + "/v1/chat/completions", json=body)
    assert r.status_code == 200, r.text
    assert upstream.state.bodies[-1]["chat_template_kwargs"] == {"reasoning_effort": "low"}
    assert "lowest effort, low" in r.headers["x-glm-serve-thinking"]
    # It thinks: the output parses from reasoning, as the template opened <think>.
    assert r.json()["choices"][0]["message"]["reasoning_content"] == "The user wants a file."
