"""HostedBackend: the BigModel / Z.ai chat API over pooled connections, retried before the first byte."""

from __future__ import annotations

import asyncio
import logging
import os
import random
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import replace
from typing import Any

from ...core import releases
from ...core.backend import Health
from ...core.errors import (
    BackendUnavailable,
    InvalidRequest,
    ServerError,
    UpstreamError,
)
from ...core.events import MessageStart, StreamEvent
from ...core.releases.thinking import fit_for
from ...core.request import ChatRequest, CompletionRequest
from ...settings import RemoteSettings
from .chat_client import ChatClient, ChunkStream, HttpFailure, StreamFailure
from .hosted_api import (
    MAINLAND,
    catalogue_name,
    chunk_events,
    error_from,
    estimate_tokens,
    hosted_model,
    request_body,
    retryable,
    sampling_used,
)
from .http_session import TransportFailure

log = logging.getLogger("glm_serve.hosted")


def api_key(environ: Mapping[str, str] | None = None) -> str | None:
    """The hosted key: from the environment only (BIGMODEL_API_KEY, else ZAI_API_KEY), never a flag."""
    env = os.environ if environ is None else environ
    return env.get("BIGMODEL_API_KEY") or env.get("ZAI_API_KEY") or None


HEALTH_TTL = 10.0  # seconds a health probe's verdict stands
HEALTH_TIMEOUT = 5.0
LONGEST_WAIT = 5.0  # seconds this server waits between its own retries


class HostedBackend:
    """Serves requests through the hosted API. Retries transient failures before the first byte."""

    name = "hosted"

    def __init__(
        self,
        settings: RemoteSettings,
        served_model_name: str | None = None,
        *,
        key: str | None = None,
        backoff: float = 0.5,
    ) -> None:
        """`served_model_name`: the name clients may use beside the hosted ids (default --hosted-model)."""
        self._settings = settings
        self._key = key if key is not None else api_key()
        base = settings.hosted_base_url or os.environ.get("BIGMODEL_BASE_URL") or MAINLAND
        self._client = ChatClient(base, self._key, settings.hosted_timeout)
        self._backoff = backoff
        self._served = served_model_name or settings.hosted_model
        self._probe_lock = asyncio.Lock()
        self._probed: tuple[float, Health] | None = None

    async def start(self) -> None:
        return None

    def model_ids(self) -> list[str]:
        names = [self._served, *releases.hosted_ids(), *self._settings.hosted_model_map]
        return list(dict.fromkeys(names))

    def serves(self, model: str) -> bool:
        # model_ids() without building its list: a hosted id in any case is what catalogue_name finds.
        return (
            model == self._served
            or model in self._settings.hosted_model_map
            or catalogue_name(model) is not None
        )

    def batch_size(self) -> int | None:
        return None  # the hosted API's own limits answer with 429s, passed on

    def context_length(self) -> int | None:
        return 131072

    async def tokenize(self, req: ChatRequest | CompletionRequest) -> list[int]:
        raise InvalidRequest("the hosted backend has no local tokenizer; token ids are not available")

    async def count_tokens(self, req: ChatRequest | CompletionRequest) -> int:
        return estimate_tokens(req)

    async def health(self) -> Health:
        """Whether the hosted API answers with this key: probed with GET /models at most once per
        HEALTH_TTL seconds however often a load balancer asks, so that /health follows the upstream."""
        if not self._key:
            return Health(False, "no hosted API key (set BIGMODEL_API_KEY or ZAI_API_KEY)", self.name)
        async with self._probe_lock:
            if self._probed is None or time.monotonic() - self._probed[0] > HEALTH_TTL:
                self._probed = (time.monotonic(), await self._probe())
            return self._probed[1]

    async def _probe(self) -> Health:
        try:
            await asyncio.wait_for(self._client.models(), HEALTH_TIMEOUT)
        except HttpFailure as failure:
            if failure.status in (401, 403):
                return Health(False, "the hosted API rejects this server's key", self.name)
            if failure.status >= 500:
                return Health(False, f"the hosted API answers HTTP {failure.status}", self.name)
            # Any other answer (a 404 where an account's base URL lists no models) is an API that is up.
        except (TransportFailure, TimeoutError) as exc:
            log.warning("hosted API health probe failed: %s", exc)
            return Health(False, "the hosted API is unreachable", self.name)
        return Health(True, "hosted BigModel / Z.ai API", self.name)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def post(self, endpoint: str, body: Mapping[str, Any]) -> Mapping[str, Any]:
        """A non-chat endpoint of the hosted API (embeddings, image generation), passed through."""
        if not self._key:
            raise BackendUnavailable("no hosted API key is configured (BIGMODEL_API_KEY or ZAI_API_KEY)")
        try:
            return await self._client.call(endpoint, body)
        except HttpFailure as failure:
            raise error_from(failure.status, failure.body, failure.retry_after) from failure
        except TransportFailure as exc:
            raise BackendUnavailable(f"the hosted API is unreachable ({exc})") from exc

    def stream(self, req: ChatRequest | CompletionRequest) -> AsyncIterator[StreamEvent]:
        return self._stream(req)

    async def _stream(self, req: ChatRequest | CompletionRequest) -> AsyncIterator[StreamEvent]:
        if isinstance(req, CompletionRequest):
            raise InvalidRequest("the hosted API has no text-completion endpoint; use chat completions")
        if not self._key:
            raise BackendUnavailable("no hosted API key is configured (BIGMODEL_API_KEY or ZAI_API_KEY)")
        model = hosted_model(req.model, self._settings)
        release = releases.find(model)  # once: a lookup costs ~50 µs of the hosted path's budget
        thinking, note = fit_for(req.thinking, release)
        req = replace(req, thinking=thinking)
        body = request_body(req, model, release)
        chunks = await self._open(body)
        start = MessageStart(
            f"chatcmpl-{uuid.uuid4().hex}", req.model, 0, self.name, sampling_used(req, release), note
        )
        try:
            async for event in chunk_events(chunks, start):
                yield event
        except StreamFailure as failure:
            if failure.body is not None:
                raise error_from(200, failure.body) from failure
            raise UpstreamError(f"the hosted API stream broke: {failure.reason}") from failure
        finally:
            await chunks.aclose()

    async def _open(self, body: Mapping[str, Any]) -> ChunkStream:
        """Send the request, retrying transient failures (connection errors, retryable statuses) while
        nothing has streamed yet, never sooner than the hosted API's Retry-After. An error after retries
        is marked `retried`, so that the client's SDK does not multiply them by its own."""
        deadline = time.monotonic() + min(self._settings.hosted_timeout, 60.0)
        attempt = 0
        while True:
            wait: float | None = None
            error: ServerError
            try:
                return await self._client.open(body)
            except HttpFailure as failure:
                error = error_from(failure.status, failure.body, failure.retry_after)
                if not retryable(failure.status, failure.body):
                    raise error from failure
                reason, wait = f"HTTP {failure.status}", failure.retry_after
            except TransportFailure as exc:
                error = BackendUnavailable(f"the hosted API is unreachable ({exc})", retry_after=1)
                reason = str(exc)
            # Exponential backoff with full jitter, inside an overall deadline.
            delay = max(random.uniform(0, self._backoff * 2**attempt), wait or 0.0)
            if (
                attempt >= self._settings.hosted_retries
                or delay > LONGEST_WAIT
                or time.monotonic() + delay > deadline
            ):
                # A longer Retry-After goes to the client, which can do better than hold a connection.
                error.retried = attempt > 0
                raise error
            attempt += 1
            log.warning("hosted API %s; retry %d in %.2fs", reason, attempt, delay)
            await asyncio.sleep(delay)
