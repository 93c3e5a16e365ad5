"""Failover and spillover between two backends, seen from a client."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from server.app import create_app
from server.backends.fake import FakeBackend
from server.backends.fallback import FallbackBackend
from server.core.backend import Health
from server.core.errors import BackendUnavailable, InvalidRequest
from server.core.events import StreamEvent
from server.core.request import ChatRequest, CompletionRequest
from server.settings import Settings
from tests.conftest import live_server

BODY = {"model": "glm-4.7", "messages": [{"role": "user", "content": "hi"}]}


class Broken(FakeBackend):
    """A primary that fails before its first byte, as an overloaded or dead upstream does."""

    def __init__(self, error: Exception, healthy: bool = True) -> None:
        super().__init__("</think>never", model="glm-4.7", name="primary")
        self.error = error
        self.healthy = healthy

    async def health(self) -> Health:
        return Health(self.healthy, "test", self.name)

    async def _stream(self, req: ChatRequest | CompletionRequest) -> AsyncIterator[StreamEvent]:
        self.requests.append(req)
        raise self.error
        yield  # an async generator


def secondary() -> FakeBackend:
    return FakeBackend("</think>from the secondary", model="glm-4.7", name="secondary")


def serve_pair(primary: FakeBackend, mode: str = "failover", depth: int = 64) -> Any:
    return live_server(
        create_app(Settings(backend="fake"), FallbackBackend(primary, secondary(), mode, depth))
    )


def test_failover_when_the_primary_errors_before_the_first_byte() -> None:
    primary = Broken(BackendUnavailable("engine died"))
    with serve_pair(primary) as base:
        r = httpx.post(base + "/v1/chat/completions", json=BODY)
        assert r.status_code == 200 and r.json()["choices"][0]["message"]["content"] == "from the secondary"
        assert r.headers["x-glm-serve-backend"] == "secondary" and len(primary.requests) == 1
        with httpx.stream("POST", base + "/v1/chat/completions", json={**BODY, "stream": True}) as s:
            assert s.headers["x-glm-serve-backend"] == "secondary"
        metrics = httpx.get(base + "/metrics").text
    assert 'glm_serve:requests_total{backend="secondary",endpoint="chat",outcome="ok"} 2.0' in metrics


def test_failover_when_the_primary_is_unhealthy_without_trying_it() -> None:
    primary = Broken(BackendUnavailable("loading"), healthy=False)
    with serve_pair(primary) as base:
        assert (
            httpx.post(base + "/v1/messages", json={**BODY, "max_tokens": 20}).headers["x-glm-serve-backend"]
            == "secondary"
        )
    assert not primary.requests


def test_the_requests_own_errors_are_not_failed_over() -> None:
    with serve_pair(Broken(InvalidRequest("bad temperature"))) as base:
        r = httpx.post(base + "/v1/chat/completions", json=BODY)
    assert r.status_code == 400 and "bad temperature" in r.json()["error"]["message"]


async def burst(base: str, n: int) -> list[str]:
    """n chat requests at once: the backend that served each."""
    async with httpx.AsyncClient(timeout=30) as c:
        rs = await asyncio.gather(*(c.post(base + "/v1/chat/completions", json=BODY) for _ in range(n)))
    return [r.headers["x-glm-serve-backend"] for r in rs]


def test_spillover_past_the_queue_depth() -> None:
    primary = FakeBackend("</think>" + "slow " * 30, model="glm-4.7", name="primary", delay=0.02)
    with serve_pair(primary, mode="spillover", depth=2) as base:
        served = asyncio.run(burst(base, 5))
        assert served.count("primary") == 2 and served.count("secondary") == 3
        # Once the primary is free again, it serves.
        assert (
            httpx.post(base + "/v1/chat/completions", json=BODY).headers["x-glm-serve-backend"] == "primary"
        )


class SlowToStart(FakeBackend):
    """A primary whose start awaits, as the engine's does (the prompt renders on a worker thread)."""

    async def tokenize(self, req: ChatRequest | CompletionRequest) -> list[int]:
        await asyncio.sleep(0.1)
        return await super().tokenize(req)


def test_spillover_counts_a_request_that_is_still_starting() -> None:
    primary = SlowToStart("</think>" + "slow " * 30, model="glm-4.7", name="primary", delay=0.02)
    with serve_pair(primary, mode="spillover", depth=2) as base:
        served = asyncio.run(burst(base, 5))
        assert served.count("primary") == 2 and served.count("secondary") == 3


def test_health_and_models_cover_both() -> None:
    with serve_pair(Broken(BackendUnavailable("x"), healthy=False)) as base:
        health = httpx.get(base + "/health").json()
    assert (
        health["status"] == "ok"
        and "secondary" in health["detail"]
        and health["backend"] == "primary+secondary"
    )


@pytest.mark.parametrize("mode", ["failover", "spillover"])
def test_settings_build_the_pair(mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from server.app import choose_backend

    monkeypatch.setenv("BIGMODEL_API_KEY", "k.s")
    backend, _, why = choose_backend(Settings(backend="fake", fallback=mode, fallback_backend="hosted"))
    assert isinstance(backend, FallbackBackend) and backend.name == "fake+hosted" and mode in why
