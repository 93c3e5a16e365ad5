"""FallbackBackend: two backends as one: failover when the primary is down, spillover when it is full."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

from ..core.backend import Backend, Health
from ..core.errors import InvalidRequest, ModelNotFound, ServerError
from ..core.events import StreamEvent
from ..core.request import ChatRequest, CompletionRequest
from ..core.streams import prime

log = logging.getLogger("glm_serve.fallback")


class FallbackBackend:
    """Sends each request to the primary, or to the secondary when the primary cannot take it.

    failover:  the primary is not healthy, or fails before its first event (its MessageStart) →
               the secondary serves the request. Errors that are the request's own fault
               (InvalidRequest and its kind, unknown models) are not retried elsewhere.
    spillover: as failover, and also when `queue_depth` requests are already in flight on the primary.
    Each response's MessageStart names the backend that served it (routes put it in a header).
    """

    def __init__(self, primary: Backend, secondary: Backend, mode: str, queue_depth: int = 64) -> None:
        self.primary = primary
        self.secondary = secondary
        self._spill = mode == "spillover"
        self._depth = queue_depth
        self.in_flight = 0
        self.name = f"{primary.name}+{secondary.name}"

    async def start(self) -> None:
        results = await asyncio.gather(self.primary.start(), self.secondary.start(), return_exceptions=True)
        for backend, result in zip((self.primary, self.secondary), results, strict=True):
            if isinstance(result, BaseException):
                log.error("%s backend failed to start: %s", backend.name, result)

    def model_ids(self) -> list[str]:
        return list(dict.fromkeys(self.primary.model_ids() + self.secondary.model_ids()))

    def serves(self, model: str) -> bool:
        return self.primary.serves(model) or self.secondary.serves(model)

    def context_length(self) -> int | None:
        return self.primary.context_length() or self.secondary.context_length()

    def batch_size(self) -> int | None:
        # Spillover sends what the primary cannot take to the secondary: no bound of ours applies.
        return None if self._spill else self.primary.batch_size()

    async def tokenize(self, req: ChatRequest | CompletionRequest) -> list[int]:
        return await self.primary.tokenize(req)

    async def count_tokens(self, req: ChatRequest | CompletionRequest) -> int:
        try:
            return await self.primary.count_tokens(req)
        except ServerError:
            return await self.secondary.count_tokens(req)

    async def health(self) -> Health:
        first, second = await self.primary.health(), await self.secondary.health()
        detail = f"{first.backend}: {first.detail}; {second.backend}: {second.detail}"
        return Health(first.ready or second.ready, detail, self.name)

    async def aclose(self) -> None:
        await asyncio.gather(self.primary.aclose(), self.secondary.aclose())

    def stream(self, req: ChatRequest | CompletionRequest) -> AsyncIterator[StreamEvent]:
        return self._stream(req)

    async def _stream(self, req: ChatRequest | CompletionRequest) -> AsyncIterator[StreamEvent]:
        events: AsyncIterator[StreamEvent] | None = None
        if self._spill and self.in_flight >= self._depth:
            log.info(
                "primary has %d requests in flight: spilling over to %s", self.in_flight, self.secondary.name
            )
        elif (await self.primary.health()).ready and self.primary.serves(req.model):
            # The slot is taken before the primary starts: starting awaits (the prompt renders on a
            # worker thread), and a burst arriving meanwhile must see it, or all of it lands here.
            self.in_flight += 1
            try:
                events = await self._first_of(self.primary, req)
            finally:
                if events is None:
                    self.in_flight -= 1
        if events is None:
            events = self.secondary.stream(req)
            async for event in events:
                yield event
            return
        try:
            async for event in events:
                yield event
        finally:
            self.in_flight -= 1

    async def _first_of(
        self, backend: Backend, req: ChatRequest | CompletionRequest
    ) -> AsyncIterator[StreamEvent] | None:
        """The primary's stream, started; None when it failed before its first event."""
        try:
            _, events = await prime(backend.stream(req))
        except (InvalidRequest, ModelNotFound):
            raise
        except (ServerError, OSError) as exc:
            log.warning("%s failed before its first byte (%s): failing over", backend.name, exc)
            return None
        return events
