"""Stream lifecycle: mid-stream errors, client disconnects, loading state, completions, tokenize, metrics."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import openai
import pytest

from server.app import create_app
from server.backends.fake import FakeBackend
from server.core.errors import BackendUnavailable
from server.core.events import StreamEvent
from server.core.request import ChatRequest, CompletionRequest
from server.settings import Settings
from tests.conftest import live_server
from tests.fake_server import client, fake_server

USER = [{"role": "user", "content": "hi"}]


class FailingBackend(FakeBackend):
    """Streams a few events, then the engine dies."""

    async def _stream(self, req: ChatRequest | CompletionRequest) -> AsyncIterator[StreamEvent]:
        count = 0
        async for event in super()._stream(req):
            yield event
            count += 1
            if count == 4:
                raise BackendUnavailable("the inference engine has stopped; restart the server")


def test_error_after_streaming_began_is_one_error_event() -> None:
    backend = FailingBackend("</think>a long answer that never finishes")
    with live_server(create_app(Settings(backend="fake"), backend)) as base:
        with httpx.stream(
            "POST",
            base + "/v1/chat/completions",
            json={"model": "glm-fake", "messages": USER, "stream": True},
        ) as r:
            assert r.status_code == 200
            lines = [line for line in r.iter_lines() if line]
        assert lines[-1] == "data: [DONE]"
        assert '"error"' in lines[-2] and "engine has stopped" in lines[-2]
        assert sum('"error"' in line for line in lines) == 1
        c = openai.OpenAI(base_url=base + "/v1", api_key="x", max_retries=0)
        with pytest.raises(openai.APIError, match="engine has stopped"):
            for _ in c.chat.completions.create(model="glm-fake", messages=USER, stream=True):
                pass
        c.close()
        # Before the first byte the same error is an HTTP status.
        assert (
            httpx.post(
                base + "/v1/chat/completions", json={"model": "glm-fake", "messages": USER}
            ).status_code
            == 503
        )


def _wait(predicate: Any, timeout: float = 5) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def test_disconnect_mid_stream_closes_the_backend_stream() -> None:
    with fake_server("</think>" + "word " * 400, delay=0.01) as (base, backend):
        with httpx.stream(
            "POST",
            base + "/v1/chat/completions",
            json={"model": "glm-test", "messages": USER, "stream": True},
        ) as r:
            for n, _ in enumerate(r.iter_lines()):
                if n == 5:
                    break  # leaving the block closes the connection mid-stream
        assert _wait(lambda: backend.closed == backend.opened == 1)
        # 400 pieces at 10 ms each would take 4 s; it stopped long before.
        metrics = httpx.get(base + "/metrics").text
        assert 'glm_serve:requests_total{backend="fake",endpoint="chat",outcome="aborted"} 1.0' in metrics


def test_disconnect_while_waiting_for_a_whole_response_cancels_it() -> None:
    with fake_server("</think>" + "word " * 400, delay=0.01) as (base, backend):

        async def leave_early() -> None:
            async with httpx.AsyncClient() as c:
                with pytest.raises(httpx.ReadTimeout):
                    await c.post(
                        base + "/v1/chat/completions",
                        json={"model": "glm-test", "messages": USER},
                        timeout=0.3,
                    )

        asyncio.run(leave_early())
        assert _wait(lambda: backend.closed == backend.opened == 1, timeout=2)


class SlowStart(FakeBackend):
    def __init__(self) -> None:
        super().__init__(model="glm-slow")
        self.release = asyncio.Event()
        self.loaded = False

    async def start(self) -> None:
        self.loop = asyncio.get_running_loop()
        await self.release.wait()
        self.loaded = True

    async def health(self) -> Any:
        from server.core.backend import Health

        return Health(self.loaded, "loaded" if self.loaded else "loading the model", self.name)


def test_health_is_503_while_loading() -> None:
    backend = SlowStart()
    app = create_app(Settings(backend="fake"), backend)
    with live_server(app, ready_path="/v1/models") as base:
        r = httpx.get(base + "/health")
        assert r.status_code == 503 and r.json()["detail"] == "loading the model"
        loop_release = backend.release
        # The event belongs to the server's loop; set it from there.
        assert _wait(lambda: hasattr(backend, "loop"))
        backend.loop.call_soon_threadsafe(loop_release.set)
        assert _wait(lambda: httpx.get(base + "/health").status_code == 200)
        assert httpx.get(base + "/health").json()["backend"] == "fake"


def test_text_completions_stream_and_whole() -> None:
    with fake_server("raw <think>text</think> is not parsed here") as (base, _):
        c = client(base)
        whole = c.completions.create(model="glm-test", prompt="Once upon a time", max_tokens=50)
        assert whole.choices[0].text == "raw <think>text</think> is not parsed here"
        assert whole.object == "text_completion"
        streamed = "".join(
            ch.choices[0].text
            for ch in c.completions.create(model="glm-test", prompt="Once", max_tokens=50, stream=True)
            if ch.choices
        )
        assert streamed == whole.choices[0].text
        short = c.completions.create(model="glm-test", prompt="Once", max_tokens=2)
        assert short.choices[0].finish_reason == "length" and short.usage.completion_tokens == 2  # type: ignore[union-attr]


def test_tokenize_and_models() -> None:
    with fake_server() as (base, _):
        r = httpx.post(base + "/tokenize", json={"prompt": "héllo"})
        assert r.json() == {"count": 6, "max_model_len": 8192, "tokens": list("héllo".encode())}
        chat = httpx.post(base + "/tokenize", json={"messages": USER}).json()
        assert chat["count"] == len(chat["tokens"]) > 0
        assert httpx.post(base + "/tokenize", json={}).status_code == 400
        assert httpx.post(base + "/tokenize", json={"model": "x", "prompt": "a"}).status_code == 404
        models = httpx.get(base + "/v1/models").json()
        assert models["data"][0]["id"] == "glm-test" and models["data"][0]["max_model_len"] == 8192


def test_unknown_route_and_method_use_the_error_shape() -> None:
    with fake_server() as (base, _):
        r = httpx.get(base + "/v1/nothing")
        assert r.status_code == 404 and r.json()["error"]["message"]
        assert httpx.get(base + "/v1/chat/completions").status_code == 405
        bad_json = httpx.post(
            base + "/v1/chat/completions", content=b"{", headers={"content-type": "application/json"}
        )
        assert bad_json.status_code == 400 and bad_json.json()["error"]["type"] == "invalid_request_error"
        error = bad_json.json()["error"]
        assert "Invalid JSON" in error["message"] and error["param"] is None
        not_an_object = httpx.post(base + "/v1/completions", json=[])
        assert not_an_object.json()["error"]["message"] == "invalid request body: Input should be an object"
        wrong_field = httpx.post(base + "/v1/chat/completions", json={"model": "m", "messages": [], "n": "x"})
        assert wrong_field.status_code == 400 and wrong_field.json()["error"]["param"] == "n"


def test_final_errors_tell_clients_not_to_retry() -> None:
    """Claude Code retries a 401 for minutes unless told not to; the SDKs read x-should-retry."""
    import anthropic
    import httpx2  # the anthropic SDK's HTTP client

    calls: list[str] = []
    hooks = {"request": [lambda r: calls.append(str(r.url.path))]}
    with fake_server(api_key="right") as (base, _):
        for path, body in (
            ("/v1/chat/completions", {"model": "glm-test", "messages": USER}),
            ("/v1/messages", {"model": "glm-test", "messages": USER, "max_tokens": 5}),
            ("/v1/responses", {"model": "glm-test", "input": "hi"}),
        ):
            r = httpx.post(base + path, json=body, headers={"Authorization": "Bearer wrong"})
            assert r.status_code == 401 and r.headers["x-should-retry"] == "false"
        bad = httpx.post(
            base + "/v1/chat/completions",
            json={"model": "nope", "messages": USER},
            headers={"Authorization": "Bearer right"},
        )
        assert bad.status_code == 404 and bad.headers["x-should-retry"] == "false"
        with httpx2.Client(event_hooks=hooks) as http:
            sdk = anthropic.Anthropic(base_url=base, api_key="wrong", max_retries=3, http_client=http)
            with pytest.raises(anthropic.AuthenticationError):
                sdk.messages.create(model="glm-test", max_tokens=5, messages=USER)  # type: ignore[arg-type]
        assert calls == ["/v1/messages"]  # once, not four times
