"""Request ids: the client's x-request-id or a new one, on every answer, in the log lines and error bodies."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator, Iterator

import anthropic
import httpx
import openai
import pytest

from server import logs
from server.app import create_app
from server.backends.fake import FakeBackend
from server.core.events import StreamEvent
from server.core.request import ChatRequest, CompletionRequest
from server.settings import Settings
from tests.conftest import live_server
from tests.fake_server import fake_server
from tests.integration.app.test_streams import FailingBackend

USER = [{"role": "user", "content": "hi"}]
GENERATED = re.compile(r"req_[0-9a-f]{24}")


def test_every_answer_carries_an_id_the_clients_own_when_it_sent_one() -> None:
    with fake_server(max_body_mb=0.001) as (base, _):
        c = openai.OpenAI(base_url=base + "/v1", api_key="x", max_retries=0)
        first = c.chat.completions.with_raw_response.create(model="glm-test", messages=USER)
        second = c.chat.completions.with_raw_response.create(model="glm-test", messages=USER)
        ids = [first.headers["x-request-id"], second.headers["x-request-id"]]
        assert all(GENERATED.fullmatch(i) for i in ids) and ids[0] != ids[1]
        mine = c.chat.completions.with_raw_response.create(
            model="glm-test", messages=USER, stream=True, extra_headers={"x-request-id": "trace-42/a"}
        )
        assert mine.headers["x-request-id"] == "trace-42/a"
        mine.parse().close()
        c.close()
        # A value that would garble a log line is replaced, not refused.
        odd = httpx.get(base + "/health", headers={"x-request-id": "two words"})
        assert GENERATED.fullmatch(odd.headers["x-request-id"])
        assert GENERATED.fullmatch(httpx.get(base + "/v1/models").headers["x-request-id"])
        # Refused before the app reads the body (the size limit): the id and the body's request_id agree.
        big = httpx.post(
            base + "/v1/chat/completions", content=b"x" * 5000, headers={"x-request-id": "big-1"}
        )
        assert big.status_code == 413
        assert big.headers["x-request-id"] == "big-1" and big.json()["request_id"] == "big-1"


def test_error_bodies_name_the_request_on_each_wire() -> None:
    with fake_server() as (base, _):
        chat = httpx.post(
            base + "/v1/chat/completions",
            json={"model": "no-such-model", "messages": USER},
            headers={"x-request-id": "chat-1"},
        )
        assert chat.status_code == 404
        assert chat.json()["request_id"] == "chat-1" and chat.json()["error"]["param"] == "model"
        c = anthropic.Anthropic(base_url=base, api_key="x", max_retries=0)
        with pytest.raises(anthropic.NotFoundError) as raised:
            c.messages.create(model="no-such-model", max_tokens=10, messages=USER)  # type: ignore[arg-type]
        body = raised.value.response.json()
        assert body["type"] == "error" and body["request_id"] == raised.value.response.headers["x-request-id"]
        c.close()


def test_an_error_inside_a_stream_names_the_request() -> None:
    backend = FailingBackend("</think>a long answer that never finishes")
    with live_server(create_app(Settings(backend="fake"), backend)) as base:
        with httpx.stream(
            "POST",
            base + "/v1/chat/completions",
            json={"model": "glm-fake", "messages": USER, "stream": True},
            headers={"x-request-id": "stream-7"},
        ) as r:
            lines = [line for line in r.iter_lines() if line]
        error = json.loads(lines[-2].removeprefix("data: "))
        assert error["request_id"] == "stream-7" and "engine has stopped" in error["error"]["message"]
        # Responses ends such a stream with response.failed: its error names the request too.
        with httpx.stream(
            "POST",
            base + "/v1/responses",
            json={"model": "glm-fake", "input": "hi", "stream": True},
            headers={"x-request-id": "stream-8"},
        ) as r:
            data = [json.loads(line[6:]) for line in r.iter_lines() if line.startswith("data: ")]
        failed = data[-1]
        assert failed["type"] == "response.failed"
        assert failed["response"]["error"]["request_id"] == "stream-8"


class BrokenBackend(FakeBackend):
    """A bug: the stream fails with something that is not a ServerError."""

    async def _stream(self, req: ChatRequest | CompletionRequest) -> AsyncIterator[StreamEvent]:
        raise RuntimeError("a bug")
        yield  # an async generator


@pytest.fixture
def log_lines() -> Iterator[list[str]]:
    """glm-serve's log lines as the server's text format writes them, with its Stamp filter."""
    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))

    handler = Collect()
    handler.setFormatter(logging.Formatter(logs.TEXT_FORMAT))
    handler.addFilter(logs.Stamp())
    logger = logging.getLogger("glm_serve")
    logger.addHandler(handler)
    yield lines
    logger.removeHandler(handler)


def test_an_unexpected_failure_is_logged_and_answered_with_the_id(log_lines: list[str]) -> None:
    with live_server(create_app(Settings(backend="fake"), BrokenBackend("x"))) as base:
        r = httpx.post(
            base + "/v1/chat/completions",
            json={"model": "glm-fake", "messages": USER},
            headers={"x-request-id": "bug-9"},
        )
    assert r.status_code == 500
    assert r.headers["x-request-id"] == "bug-9" and r.json()["request_id"] == "bug-9"
    assert any(" [bug-9]: unhandled error on /v1/chat/completions" in line for line in log_lines)
