"""Core events → Anthropic Messages: content blocks (thinking, text, tool_use), streamed or whole."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from parsers import ReasoningDelta, TextDelta, ToolArgsDelta, ToolCallEnd, ToolCallStart, said_twice

from ..core.errors import BackendUnavailable, ServerError, internal_error
from ..core.events import FinishReason, MessageEnd, MessageStart, StreamEvent, Usage
from ..http import sse

log = logging.getLogger("glm_serve.anthropic")
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
}


def error_body(exc: ServerError) -> dict[str, Any]:
    kind = (
        "overloaded_error"
        if isinstance(exc, BackendUnavailable)
        else _ERROR_TYPES.get(exc.status, "api_error")
    )
    return {"type": "error", "error": {"type": kind, "message": exc.message}}


def stop_reason(finish: FinishReason, stop_sequence: str | None) -> str:
    if finish == "length":
        return "max_tokens"
    if finish == "tool_calls":
        return "tool_use"
    if finish == "content_filter":
        return "refusal"
    return "stop_sequence" if stop_sequence else "end_turn"


def usage_body(usage: Usage) -> dict[str, int]:
    # Anthropic counts cache reads apart from input_tokens; clients add them up for the context size.
    return {
        "input_tokens": usage.prompt_tokens - usage.cached_tokens,
        "output_tokens": usage.completion_tokens,
        "cache_read_input_tokens": usage.cached_tokens,
        "cache_creation_input_tokens": 0,
    }


def signature(thinking: str) -> str:
    """An opaque signature for a thinking block (clients drop unsigned ones); a digest of its text."""
    return "glm-serve:" + base64.b64encode(hashlib.sha256(thinking.encode()).digest()).decode()


@dataclass
class Blocks:
    """Turns the event stream into content blocks, for the stream and the whole message alike.

    A block opens when the kind of output changes (thinking → text → tool_use …) and closes when the
    next one opens, so block indexes are in order and never interleave.
    """

    content: list[dict[str, Any]] = field(default_factory=list)
    truncated: set[int] = field(default_factory=set)  # tool_use blocks whose call was cut off
    _kind: str | None = None
    _call_ended = False
    _thinking: list[str] = field(default_factory=list)
    _json: list[str] = field(default_factory=list)

    def feed(self, event: StreamEvent) -> list[tuple[str, dict[str, Any]]]:
        """The (event name, data) pairs this event adds to a stream; `content` grows alongside."""
        out: list[tuple[str, dict[str, Any]]] = []
        if isinstance(event, ReasoningDelta):
            self._open("thinking", {"type": "thinking", "thinking": "", "signature": ""}, out)
            self._thinking.append(event.text)
            self.content[-1]["thinking"] += event.text
            out.append(self._delta({"type": "thinking_delta", "thinking": event.text}))
        elif isinstance(event, TextDelta):
            self._open("text", {"type": "text", "text": ""}, out)
            self.content[-1]["text"] += event.text
            out.append(self._delta({"type": "text_delta", "text": event.text}))
        elif isinstance(event, ToolCallStart):
            self.close(out)
            block = {
                "type": "tool_use",
                "id": f"toolu_{uuid.uuid4().hex[:24]}",
                "name": event.name,
                "input": {},
            }
            self._open("tool_use", block, out)
        elif isinstance(event, ToolArgsDelta) and self._kind == "tool_use":
            self._json.append(event.json)
            out.append(self._delta({"type": "input_json_delta", "partial_json": event.json}))
        elif isinstance(event, ToolCallEnd):
            self._call_ended = True
            self.close(out)
        return out

    def close(self, out: list[tuple[str, dict[str, Any]]]) -> None:
        if self._kind is None:
            return
        block = self.content[-1]
        if self._kind == "thinking":
            block["signature"] = signature("".join(self._thinking))
            out.append(self._delta({"type": "signature_delta", "signature": block["signature"]}))
            self._thinking.clear()
        elif self._kind == "tool_use":
            if self._call_ended:
                block["input"] = json.loads("".join(self._json))
            else:
                self.truncated.add(len(self.content) - 1)
            self._json.clear()
            self._call_ended = False
        out.append(("content_block_stop", {"type": "content_block_stop", "index": len(self.content) - 1}))
        self._kind = None

    def _open(self, kind: str, block: dict[str, Any], out: list[tuple[str, dict[str, Any]]]) -> None:
        if self._kind == kind:
            return
        self.close(out)
        self._kind = kind
        self.content.append(block)
        start = dict(block, input={}) if kind == "tool_use" else dict(block)
        out.append(
            (
                "content_block_start",
                {"type": "content_block_start", "index": len(self.content) - 1, "content_block": start},
            )
        )

    def _delta(self, delta: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        return "content_block_delta", {
            "type": "content_block_delta",
            "index": len(self.content) - 1,
            "delta": delta,
        }


def _message_head(start: MessageStart) -> dict[str, Any]:
    return {
        "id": "msg_" + start.request_id.split("-", 1)[-1],
        "type": "message",
        "role": "assistant",
        "model": start.model,
    }


async def message(events: AsyncIterator[StreamEvent]) -> dict[str, Any]:
    """The whole message: the same blocks a streaming client would accumulate."""
    blocks = Blocks()
    head: dict[str, Any] = {}
    end: MessageEnd | None = None
    async for event in events:
        if isinstance(event, MessageStart):
            head = _message_head(event)
        elif isinstance(event, MessageEnd):
            end = event
        else:
            blocks.feed(event)
    blocks.close([])
    if end is None:
        raise RuntimeError("backend stream ended without MessageEnd")
    # A call cut off by max_tokens never got its end: it is not a tool_use the client could run.
    content = [b for i, b in enumerate(blocks.content) if i not in blocks.truncated]
    for i in range(len(content) - 1):  # an answer left in the opened <think>: once, as the answer
        first, then = content[i], content[i + 1]
        if (
            first["type"] == "thinking"
            and then["type"] == "text"
            and said_twice(first["thinking"], then["text"])
        ):
            del content[i]
            break
    return {
        **head,
        "content": content,
        "stop_reason": stop_reason(end.finish_reason, end.stop_sequence),
        "stop_sequence": end.stop_sequence,
        "usage": usage_body(end.usage),
    }


_PING = object()


async def _with_keepalive(events: AsyncIterator[StreamEvent], every: float) -> AsyncIterator[object]:
    """The events, with a _PING whenever none arrived for `every` seconds (a long prefill, say)."""
    pending: asyncio.Future[StreamEvent] | None = None
    try:
        while True:
            pending = asyncio.ensure_future(anext(events))
            while not (await asyncio.wait({pending}, timeout=every))[0]:
                yield _PING
            try:
                event = pending.result()
            except StopAsyncIteration:
                return
            pending = None
            yield event
    finally:
        if pending is not None and not pending.done():
            pending.cancel()
            with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                await pending
        close = getattr(events, "aclose", None)
        if close is not None:
            await close()


async def message_sse(events: AsyncIterator[StreamEvent], ping_every: float = 10.0) -> AsyncIterator[bytes]:
    """message_start, content blocks, message_delta, message_stop; an error mid-stream is one error event."""
    blocks = Blocks()
    try:
        async for item in _with_keepalive(events, ping_every):
            if item is _PING:
                yield sse.encode('{"type":"ping"}', "ping")
            elif isinstance(item, MessageStart):
                msg = {
                    **_message_head(item),
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": {"input_tokens": item.prompt_tokens, "output_tokens": 0},
                }
                yield sse.encode(_dumps({"type": "message_start", "message": msg}), "message_start")
                yield sse.encode('{"type":"ping"}', "ping")
            elif isinstance(item, MessageEnd):
                closing: list[tuple[str, dict[str, Any]]] = []
                blocks.close(closing)
                for name, data in closing:
                    yield sse.encode(_dumps(data), name)
                delta = {
                    "stop_reason": stop_reason(item.finish_reason, item.stop_sequence),
                    "stop_sequence": item.stop_sequence,
                }
                yield sse.encode(
                    _dumps({"type": "message_delta", "delta": delta, "usage": usage_body(item.usage)}),
                    "message_delta",
                )
                yield sse.encode('{"type":"message_stop"}', "message_stop")
            else:
                for name, data in blocks.feed(item):  # type: ignore[arg-type]
                    yield sse.encode(_dumps(data), name)
    except ServerError as exc:
        yield sse.encode(_dumps(error_body(exc)), "error")
    except Exception:
        log.exception("stream failed after it started")
        yield sse.encode(_dumps(error_body(internal_error())), "error")
