"""Gate: every generation stream passes it. Admission bounds the queue; the drain ends streams at shutdown.

    backend.stream(req) ─▶ gate.admit() (measured by a metrics Watch) ─▶ a wire's renderer

Admission: a backend runs `batch` requests at once; up to `queue` more may wait behind them. Past that a
request is refused at once with a 429 and a Retry-After, rather than taking a 200 and a role chunk and
then waiting a minute for its first token (nothing a client or a load balancer could act on).

The drain: at SIGTERM the server stops taking connections and lets running streams go on for the
grace period; then it ends each one with its wire's error terminal (an error event and [DONE];
Anthropic's error event; Responses' response.failed), aborting the engine request behind it.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from ..core.errors import BackendUnavailable, RateLimited
from ..core.events import StreamEvent
from .metrics import Metrics, Watch

SHUTTING_DOWN = "the server is shutting down; retry on another replica"


@dataclass(slots=True, eq=False)  # one per stream, kept in a set by identity
class _Running:
    task: asyncio.Task[object] | None = None
    drained: bool = False


class Gate:
    def __init__(self, metrics: Metrics, batch_size: Callable[[], int | None], queue: int | None) -> None:
        """`batch_size()`: what the backend runs at once (None: unknown, or not loaded yet); `queue`:
        how many may wait beyond it (None: as many as the batch; -1: no bound). While the batch is
        unknown nothing is bounded: a queue means nothing without the batch it waits behind."""
        self.metrics = metrics
        self._batch_size = batch_size
        self._queue = queue
        self.batch: int | None = None
        self.capacity: int | None = None
        self.in_flight = 0
        self.draining = False
        self._running: set[_Running] = set()
        self._mean_seconds = 1.0  # of a finished request, for Retry-After

    def _learn_batch(self) -> None:
        # The engine's batch is known once it has loaded; until then only an explicit queue bounds.
        batch = self._batch_size()
        if batch is None:
            return
        self.batch = batch
        if self._queue is None:
            self.capacity = 2 * batch
        elif self._queue >= 0:
            self.capacity = batch + self._queue

    def saturated(self) -> bool:
        """The next request would be refused (a load balancer should prefer another replica)."""
        if self.batch is None:
            self._learn_batch()
        return self.capacity is not None and self.in_flight >= self.capacity

    def retry_after(self) -> float:
        """About one turnover of the queue: what its requests take, by how many batches it holds."""
        if self.capacity is None or not self.batch:
            return 1.0
        return min(60.0, max(1.0, self._mean_seconds * math.ceil(self.capacity / self.batch - 1)))

    def check(self) -> None:
        """Raise what a request would get now: 503 while draining, 429 when the queue is full.

        The Admission middleware calls it before a generation request reaches the app, so that a burst
        past the bound is refused for the cost of a comparison, not of routing, parsing and converting
        each request first; `admit` checks again, since the gate may have filled meanwhile."""
        if self.draining:
            raise BackendUnavailable(SHUTTING_DOWN, retry_after=1)
        if self.saturated():
            self.metrics.rejected.labels("queue_full").inc()
            raise RateLimited(
                f"this server is at capacity ({self.in_flight} requests running or queued); "
                "retry after the Retry-After interval",
                retry_after=self.retry_after(),
            )

    def admit(self, events: AsyncIterator[StreamEvent], watch: Watch) -> AsyncIterator[StreamEvent]:
        """The stream, counted and measured by `watch`; or RateLimited at once when the queue is full."""
        self.check()
        return self._guarded(events, watch)

    async def _guarded(self, events: AsyncIterator[StreamEvent], watch: Watch) -> AsyncIterator[StreamEvent]:
        running = _Running()
        watch.begin()
        self._running.add(running)
        self._count(+1)
        start = time.monotonic()
        taken = 0
        try:
            while True:
                # Whichever task takes the next event is the one the drain cancels: the route's takes
                # the first (prime), the response's or the collector's every later one. Looked up for
                # those two only: current_task() is a getpid() system call, per event otherwise.
                if taken < 2:
                    running.task = asyncio.current_task()
                    taken += 1
                try:
                    event = await events.__anext__()
                except StopAsyncIteration:
                    break
                except asyncio.CancelledError:
                    if running.drained and running.task is not None and running.task.uncancel() == 0:
                        # The cancel has unwound the backend stream (the engine request is aborted);
                        # the wire's renderer turns this into its error terminal.
                        error = BackendUnavailable(SHUTTING_DOWN, retry_after=1)
                        watch.failed(error)
                        raise error from None
                    raise
                except Exception as exc:
                    watch.failed(exc)
                    raise
                watch.see(event)
                yield event
        finally:
            watch.end()
            self._running.discard(running)
            self._count(-1)
            self._mean_seconds += 0.1 * (time.monotonic() - start - self._mean_seconds)
            close = getattr(events, "aclose", None)
            if close is not None:
                await close()

    def _count(self, step: int) -> None:
        self.in_flight += step
        self.metrics.queued.set(max(0, self.in_flight - self.batch) if self.batch else 0)

    def drain(self, grace: float) -> None:
        """Stop admitting; after `grace` seconds end every stream still running."""
        self.draining = True
        asyncio.get_running_loop().call_later(grace, self.end_all)

    def end_all(self) -> None:
        for running in list(self._running):
            running.drained = True
            if running.task is not None:
                running.task.cancel()
