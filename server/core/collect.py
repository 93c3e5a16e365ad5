"""The fold of a stream into one result: a non-streamed response is exactly the collected stream."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from parsers import MessageBuilder, ToolCall

from .events import FinishReason, LogprobsDelta, MessageEnd, MessageStart, StreamEvent, TokenLogprob, Usage


@dataclass(frozen=True, slots=True)
class Completion:
    request_id: str
    model: str
    reasoning: str | None
    content: str | None
    tool_calls: tuple[ToolCall, ...]
    finish_reason: FinishReason
    usage: Usage
    stop_sequence: str | None
    logprobs: tuple[TokenLogprob, ...] | None


async def collect(events: AsyncIterator[StreamEvent]) -> Completion:
    """Consume a whole stream. A stream that ends without MessageEnd is a backend bug."""
    builder = MessageBuilder()
    start: MessageStart | None = None
    end: MessageEnd | None = None
    logprobs: list[TokenLogprob] = []
    saw_logprobs = False
    async for event in events:
        if isinstance(event, MessageStart):
            start = event
        elif isinstance(event, MessageEnd):
            end = event
        elif isinstance(event, LogprobsDelta):
            saw_logprobs = True
            logprobs.extend(event.tokens)
        else:
            builder.add(event)
    if start is None or end is None:
        raise RuntimeError("backend stream ended without MessageStart/MessageEnd")
    msg = builder.build()
    return Completion(
        request_id=start.request_id,
        model=start.model,
        reasoning=msg.reasoning,
        content=msg.content,
        tool_calls=msg.tool_calls,
        finish_reason=end.finish_reason,
        usage=end.usage,
        stop_sequence=end.stop_sequence,
        logprobs=tuple(logprobs) if saw_logprobs else None,
    )
