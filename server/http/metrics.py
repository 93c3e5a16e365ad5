"""Prometheus metrics: per-request figures under vLLM's names, plus the engine's own when it runs here."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from parsers import ReasoningDelta, TextDelta, ToolCallEnd, ToolCallStart

from ..core.errors import ServerError
from ..core.events import MessageEnd, MessageStart, StreamEvent

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

    async def observe(
        self, events: AsyncIterator[StreamEvent], endpoint: str, backend: str
    ) -> AsyncIterator[StreamEvent]:
        """Pass a stream through, recording latency, tokens and outcome."""
        start = time.monotonic()
        first = True
        outcome = "aborted"
        self.running.inc()
        try:
            async for event in events:
                if first and isinstance(event, TextDelta | ReasoningDelta | ToolCallStart):
                    first = False
                    self.ttft.observe(time.monotonic() - start)
                elif isinstance(event, ToolCallEnd):
                    self.tool_calls.inc()
                elif isinstance(event, MessageStart):
                    self.prompt_tokens.inc(event.prompt_tokens)
                    backend = event.backend or backend  # a fallback pair says which of its two served
                elif isinstance(event, MessageEnd):
                    self.generation_tokens.inc(event.usage.completion_tokens)
                    self.success.labels(event.finish_reason).inc()
                    outcome = "ok"
                yield event
        except ServerError as exc:
            outcome = exc.type
            raise
        except Exception:
            outcome = "server_error"
            raise
        finally:
            self.running.dec()
            self.e2e.observe(time.monotonic() - start)
            self.requests.labels(endpoint, backend, outcome).inc()

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
