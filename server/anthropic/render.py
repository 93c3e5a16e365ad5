"""Core events → Anthropic Messages: content blocks (thinking, text, tool_use), streamed or whole."""

from __future__ import annotations

import base64
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
from ..http.request_id import with_request_id

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
    return with_request_id({"type": "error", "error": {"type": kind, "message": exc.message}})


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
    next one opens, so block indexes are in order and never interleave. A block's text is kept in pieces
    and joined when it closes (a string grown a token at a time is copied whole each time), and a
    stream's deltas, one per token, are written as JSON around the encoded text alone.
    """

    content: list[dict[str, Any]] = field(default_factory=list)
    truncated: set[int] = field(default_factory=set)  # tool_use blocks whose call was cut off
    _kind: str | None = None
    _call_ended = False
    _pieces: list[str] = field(default_factory=list)  # the open block's text, thinking or arguments

    def feed(self, event: StreamEvent) -> list[tuple[str, str]]:
        """The (event name, JSON data) pairs this event adds to a stream; `content` grows alongside."""
        out: list[tuple[str, str]] = []
        if isinstance(event, ReasoningDelta):
            self._open("thinking", {"type": "thinking", "thinking": "", "signature": ""}, out)
            self._pieces.append(event.text)
            out.append(self._delta('{"type":"thinking_delta","thinking":', event.text))
        elif isinstance(event, TextDelta):
            self._open("text", {"type": "text", "text": ""}, out)
            self._pieces.append(event.text)
            out.append(self._delta('{"type":"text_delta","text":', event.text))
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
            self._pieces.append(event.json)
            out.append(self._delta('{"type":"input_json_delta","partial_json":', event.json))
        elif isinstance(event, ToolCallEnd):
            self._call_ended = True
            self.close(out)
        return out

    def close(self, out: list[tuple[str, str]]) -> None:
        if self._kind is None:
            return
        block = self.content[-1]
        whole = "".join(self._pieces)
        self._pieces.clear()
        if self._kind == "thinking":
            block["thinking"] = whole
            block["signature"] = signature(whole)
            out.append(self._delta('{"type":"signature_delta","signature":', block["signature"]))
        elif self._kind == "text":
            block["text"] = whole
        elif self._kind == "tool_use":
            if self._call_ended:
                block["input"] = json.loads(whole)
            else:
                self.truncated.add(len(self.content) - 1)
            self._call_ended = False
        stop = {"type": "content_block_stop", "index": len(self.content) - 1}
        out.append(("content_block_stop", _dumps(stop)))
        self._kind = None

    def _open(self, kind: str, block: dict[str, Any], out: list[tuple[str, str]]) -> None:
        if self._kind == kind:
            return
        self.close(out)
        self._kind = kind
        self.content.append(block)
        start = dict(block, input={}) if kind == "tool_use" else dict(block)
        index = len(self.content) - 1
        data = {"type": "content_block_start", "index": index, "content_block": start}
        out.append(("content_block_start", _dumps(data)))

    def _delta(self, opening: str, text: str) -> tuple[str, str]:
        """A content_block_delta: `opening` is its delta object up to the value, `text` the value."""
        index = len(self.content) - 1
        return "content_block_delta", (
            f'{{"type":"content_block_delta","index":{index},"delta":{opening}{_dumps(text)}}}}}'
        )


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


# Anthropic's keepalive, written by the response whenever a stream was silent this long (a long prefill).
PING = sse.encode('{"type":"ping"}', "ping")
PING_EVERY = 10.0


async def message_sse(events: AsyncIterator[StreamEvent]) -> AsyncIterator[bytes]:
    """message_start, content blocks, message_delta, message_stop; an error mid-stream is one error event.
    (The pings of a silent stretch are the response's: PING, PING_EVERY.)"""
    blocks = Blocks()
    try:
        async for item in events:
            if isinstance(item, MessageStart):
                msg = {
                    **_message_head(item),
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": {"input_tokens": item.prompt_tokens, "output_tokens": 0},
                }
                yield sse.encode(_dumps({"type": "message_start", "message": msg}), "message_start")
                yield PING
            elif isinstance(item, MessageEnd):
                closing: list[tuple[str, str]] = []
                blocks.close(closing)
                for name, data in closing:
                    yield sse.encode(data, name)
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
                for name, data in blocks.feed(item):
                    yield sse.encode(data, name)
    except ServerError as exc:
        yield sse.encode(_dumps(error_body(exc)), "error")
    except Exception:
        log.exception("stream failed after it started")
        yield sse.encode(_dumps(error_body(internal_error())), "error")
    finally:
        # Closed at once (a client that left aborts its generation now, not when the collector runs).
        close = getattr(events, "aclose", None)
        if close is not None:
            await close()
