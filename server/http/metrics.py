"""Prometheus metrics: per-request figures under vLLM's names, plus the engine's own when it runs here."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from parsers import ReasoningDelta, TextDelta, ToolCallEnd, ToolCallStart

from ..core.errors import ServerError
from ..core.events import MessageEnd, MessageStart, StreamEvent

_OUTPUT = (TextDelta, ReasoningDelta, ToolCallStart)  # what counts as the first token (a tuple: a union
# written in the isinstance call would be built anew for every event)
_LATENCY = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 40, 80, 160)


class Metrics:
    """Counts what passes through the HTTP layer, whatever the backend.

    Figures that vLLM also reports keep vLLM's names so existing dashboards work. When the embedded
    engine publishes the same family (local backend), the engine's more precise one is served instead.
    """

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.running = Gauge("vllm:num_requests_running", "Requests being generated.", registry=r)
        self.success = Counter("vllm:request_success", "Finished requests.", ["finished_reason"], registry=r)
        self.prompt_tokens = Counter("vllm:prompt_tokens", "Prompt tokens processed.", registry=r)
        self.generation_tokens = Counter("vllm:generation_tokens", "Tokens generated.", registry=r)
        self.ttft = Histogram(
            "vllm:time_to_first_token_seconds",
            "Time to the first generated text.",
            buckets=_LATENCY,
            registry=r,
        )
        self.e2e = Histogram(
            "vllm:e2e_request_latency_seconds", "Request latency.", buckets=_LATENCY, registry=r
        )
        self.requests = Counter(
            "glm_serve:requests",
            "Requests by endpoint, backend and outcome.",
            ["endpoint", "backend", "outcome"],
            registry=r,
        )
        self.tool_calls = Counter("glm_serve:tool_calls", "Tool calls parsed from model output.", registry=r)
        self.queued = Gauge(
            "glm_serve:queued_requests", "Requests admitted beyond the engine's batch, waiting.", registry=r
        )
        self.rejected = Counter(
            "glm_serve:rejected_requests", "Requests refused before they started.", ["reason"], registry=r
        )

    def watch(self, endpoint: str, backend: str) -> Watch:
        """A stream's measurements, fed by whoever passes its events on (Gate._guarded): plain calls,
        not a generator of its own in the chain every event climbs."""
        return Watch(self, endpoint, backend)

    def exposition(self) -> bytes:
        engine = _Families(f for f in REGISTRY.collect() if f.name.startswith("vllm:"))
        shadowed = {f.name for f in engine.families}
        ours = _Families(f for f in self.registry.collect() if f.name not in shadowed)
        return generate_latest(engine) + generate_latest(ours)


class _Families:
    """A fixed set of metric families, in the shape generate_latest reads."""

    def __init__(self, families: Iterator[Any]) -> None:
        self.families = list(families)

    def collect(self) -> Iterator[Any]:
        return iter(self.families)


class Watch:
    """One stream: latency, tokens and outcome, recorded as its events pass."""

    __slots__ = ("_backend", "_endpoint", "_first", "_metrics", "_outcome", "_start")

    def __init__(self, metrics: Metrics, endpoint: str, backend: str) -> None:
        self._metrics = metrics
        self._endpoint = endpoint
        self._backend = backend
        self._start = 0.0
        self._first = True
        self._outcome = "aborted"  # until its MessageEnd, or an error says otherwise

    def begin(self) -> None:
        """The stream is admitted and asked for its first event: from here it runs, and is timed."""
        self._start = time.monotonic()
        self._metrics.running.inc()

    def see(self, event: StreamEvent) -> None:
        m = self._metrics
        if self._first and isinstance(event, _OUTPUT):
            self._first = False
            m.ttft.observe(time.monotonic() - self._start)
        elif isinstance(event, ToolCallEnd):
            m.tool_calls.inc()
        elif isinstance(event, MessageStart):
            m.prompt_tokens.inc(event.prompt_tokens)
            self._backend = event.backend or self._backend  # a fallback pair says which of its two served
        elif isinstance(event, MessageEnd):
            m.generation_tokens.inc(event.usage.completion_tokens)
            m.success.labels(event.finish_reason).inc()
            self._outcome = "ok"

    def failed(self, exc: BaseException) -> None:
        self._outcome = exc.type if isinstance(exc, ServerError) else "server_error"

    def end(self) -> None:
        m = self._metrics
        m.running.dec()
        m.e2e.observe(time.monotonic() - self._start)
        m.requests.labels(self._endpoint, self._backend, self._outcome).inc()
