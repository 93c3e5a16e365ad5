"""Core events → Responses output items, events (SSE with sequence numbers) and the response object.

One `Output` turns the event stream into items for the stream and the whole response alike, so the
non-streamed response is the fold of the stream by construction: the same items, with the same ids.

    MessageStart ─▶ response.created, response.in_progress
    ReasoningDelta ─▶ a reasoning item: reasoning_text deltas (and summary_text deltas when asked)
    TextDelta ─▶ a message item: output_text deltas
    ToolCallStart/ArgsDelta/End ─▶ a function_call (or custom_tool_call) item: arguments (input) deltas
    MessageEnd ─▶ response.completed, or response.incomplete (max_output_tokens, content_filter)
    an error once started ─▶ response.failed, with the codes Codex reads
"""

from __future__ import annotations

import json.encoder
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import msgspec

from parsers import ReasoningDelta, TextDelta, ToolArgsDelta, ToolCallEnd, ToolCallStart, said_twice

from ..core.errors import ContextTooLong, RateLimited, ServerError, internal_error
from ..core.events import LogprobsDelta, MessageEnd, MessageStart, StreamEvent, Usage
from ..core.request import SamplingValues
from ..http import sse
from ..http.request_id import with_request_id
from .freeform import FreeformInput

log = logging.getLogger("glm_serve.responses")
# msgspec: a Responses stream encodes a dozen objects per answer (items, parts, the response twice), and
# the standard library's encoder spent more time on them than on all of a short answer's deltas.
_encode = msgspec.json.Encoder().encode


def _dumps(value: Any) -> str:
    return _encode(value).decode()


_string = json.encoder.encode_basestring  # a JSON string literal, non-ASCII kept (C, ~0.1 µs)

Frames = list[bytes]


def _id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


def usage_body(usage: Usage) -> dict[str, Any]:
    return {
        "input_tokens": usage.prompt_tokens,
        # cache_write_tokens: what a prompt cache charged for writing; prefix caching writes for free.
        "input_tokens_details": {"cached_tokens": usage.cached_tokens, "cache_write_tokens": 0},
        "output_tokens": usage.completion_tokens,
        # The Responses schema requires a number: 0 where the backend cannot count them.
        "output_tokens_details": {"reasoning_tokens": usage.reasoning_tokens or 0},
        "total_tokens": usage.total_tokens,
    }


def sampling_fields(values: SamplingValues) -> dict[str, float]:
    return {
        "temperature": values.temperature,
        "top_p": values.top_p,
        "presence_penalty": values.presence_penalty,
        "frequency_penalty": values.frequency_penalty,
    }


def error_object(exc: ServerError) -> dict[str, Any]:
    """A failed response's `error`, in the codes Codex acts on (it retries after "try again in N s")."""
    if isinstance(exc, ContextTooLong):
        return {"code": "context_length_exceeded", "message": exc.message}
    if isinstance(exc, RateLimited):
        if exc.code == "insufficient_quota":
            return {"code": "insufficient_quota", "message": exc.message}
        wait = getattr(exc, "retry_after", None) or 1
        return {"code": "rate_limit_exceeded", "message": f"{exc.message}. Please try again in {wait}s."}
    return {"code": exc.code or exc.type, "message": exc.message}


class Output:
    """The items of one response as events arrive. `streaming` False skips building the SSE frames.

    `head` holds the response's fixed fields (model, the request's echoed settings); `seal` (when the
    client asked for reasoning.encrypted_content) turns reasoning text into an item's encrypted_content.
    """

    def __init__(
        self,
        head: dict[str, Any],
        *,
        max_tool_calls: int | None = None,
        custom_tools: frozenset[str] = frozenset(),
        namespaced: Mapping[str, tuple[str, str]] | None = None,
        summary: bool = False,
        seal: Callable[[str], str] | None = None,
        streaming: bool = True,
    ) -> None:
        self.response: dict[str, Any] = {
            "id": _id("resp"),
            "object": "response",
            "created_at": int(time.time()),
            "status": "in_progress",
            "error": None,
            "incomplete_details": None,
            **head,
            "output": [],
            "usage": None,
        }
        self.items: list[dict[str, Any]] = self.response["output"]
        self._custom = custom_tools
        self._namespaced = namespaced or {}
        self._summary = summary
        self._seal = seal
        self._streaming = streaming
        self._sequence = 0
        self._kind: str | None = None  # the open item's type
        self._text: list[str] = []  # the open item's text (reasoning, output text or arguments)
        self._freeform: FreeformInput | None = None
        self._done: list[str] = []  # the finished items' JSON, reused in the final response's
        self._where = ""  # the open item's id and index, as JSON fields
        self._calls_left = max_tool_calls  # past it, the model's calls are ignored (OpenAI's rule)
        self._ignoring = False  # inside a call past max_tool_calls
        self._logprobs: list[dict[str, Any]] = []  # the open message's, when the request asked for them
        self._unsent_logprobs: list[dict[str, Any]] = []  # not yet on a delta event

    # -- events in --------------------------------------------------------------------------------

    def feed(self, event: StreamEvent) -> Frames:
        out: Frames = []
        if self._ignoring and isinstance(event, ToolArgsDelta | ToolCallEnd):
            self._ignoring = not isinstance(event, ToolCallEnd)
        elif isinstance(event, TextDelta):
            self._open_message(out)
            self._text.append(event.text)
            # The engine reports a step's logprobs after its text: they ride on the next delta.
            sent, self._unsent_logprobs = self._unsent_logprobs, []
            extra = ',"content_index":0,"logprobs":' + (_dumps(sent) if sent else "[]")
            self._delta(out, "response.output_text.delta", extra, event.text)
        elif isinstance(event, LogprobsDelta):
            # The answer's tokens, those the parser held back before the answer opened included;
            # reasoning and calls have no logprobs field.
            if self._kind in (None, "message"):
                tokens = [t.as_openai() for t in event.tokens]
                self._logprobs += tokens
                self._unsent_logprobs += tokens
        elif isinstance(event, ReasoningDelta):
            self._open_reasoning(out)
            self._text.append(event.text)
            self._delta(out, "response.reasoning_text.delta", ',"content_index":0', event.text)
            if self._summary:
                self._delta(out, "response.reasoning_summary_text.delta", ',"summary_index":0', event.text)
        elif isinstance(event, ToolArgsDelta):
            self._text.append(event.json)
            if self._freeform is not None:
                if piece := self._freeform.feed(event.json):
                    self._delta(out, "response.custom_tool_call_input.delta", "", piece)
            elif self._kind == "function_call":
                self._delta(out, "response.function_call_arguments.delta", "", event.json)
        elif isinstance(event, ToolCallStart):
            if self._calls_left == 0:
                self._ignoring = True
            else:
                self._calls_left = None if self._calls_left is None else self._calls_left - 1
                self._open_call(event.name, out)
        elif isinstance(event, ToolCallEnd):
            self._close("completed", out)
        elif isinstance(event, MessageStart):
            self.response["model"] = event.model
            if event.sampling is not None:
                self.response.update(sampling_fields(event.sampling))
            self._lifecycle(out, "response.created", "response.in_progress")
        elif isinstance(event, MessageEnd):
            self.finish(event, out)
        return out

    def finish(self, end: MessageEnd, out: Frames) -> None:
        incomplete = {"length": "max_output_tokens", "content_filter": "content_filter"}.get(
            end.finish_reason
        )
        self._close("incomplete" if incomplete else "completed", out)
        self.response["usage"] = usage_body(end.usage)
        self.response["completed_at"] = int(time.time())
        if incomplete:
            self.response["status"] = "incomplete"
            self.response["incomplete_details"] = {"reason": incomplete}
            self._lifecycle(out, "response.incomplete")
        else:
            self.response["status"] = "completed"
            self._lifecycle(out, "response.completed")

    def fail(self, exc: ServerError) -> Frames:
        out: Frames = []
        self._close("incomplete", out)
        self.response["status"] = "failed"
        self.response["error"] = with_request_id(error_object(exc))
        self._lifecycle(out, "response.failed")
        return out

    # -- items ---------------------------------------------------------------------------------------

    @property
    def _index(self) -> int:
        return len(self.items) - 1

    def _add(self, item: dict[str, Any], out: Frames) -> None:
        self._close("completed", out)
        if item["type"] != "message":  # logprobs of tokens between items belong to no answer
            self._logprobs, self._unsent_logprobs = [], []
        self.items.append(item)
        self._kind = item["type"]
        self._where = '"item_id":"%s","output_index":%d' % (item["id"], self._index)
        self._emit(out, "response.output_item.added", output_index=self._index, item=item)

    def _open_message(self, out: Frames) -> None:
        if self._kind == "message":
            return
        item = {
            "id": _id("msg"),
            "type": "message",
            "role": "assistant",
            "status": "in_progress",
            "content": [],
        }
        self._add(item, out)
        part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
        self._emit(out, "response.content_part.added", **self._at(), content_index=0, part=part)

    def _open_reasoning(self, out: Frames) -> None:
        if self._kind == "reasoning":
            return
        self._add({"id": _id("rs"), "type": "reasoning", "summary": [], "status": "in_progress"}, out)
        part = {"type": "reasoning_text", "text": ""}
        self._emit(out, "response.content_part.added", **self._at(), content_index=0, part=part)
        if self._summary:
            part = {"type": "summary_text", "text": ""}
            self._emit(out, "response.reasoning_summary_part.added", **self._at(), summary_index=0, part=part)

    def _open_call(self, name: str, out: Frames) -> None:
        call_id = _id("call")
        if name in self._custom:
            self._add(
                {
                    "id": _id("ctc"),
                    "type": "custom_tool_call",
                    "call_id": call_id,
                    "name": name,
                    "input": "",
                    "status": "in_progress",
                },
                out,
            )
            self._freeform = FreeformInput()
        else:
            item = {
                "id": _id("fc"),
                "type": "function_call",
                "call_id": call_id,
                "name": name,
                "arguments": "",
                "status": "in_progress",
            }
            if name in self._namespaced:  # back under the client's own name, in its namespace
                item["namespace"], item["name"] = self._namespaced[name]
            self._add(item, out)

    def _close(self, status: str, out: Frames) -> None:
        """Finish the open item: its closing events, then output_item.done with the whole item."""
        kind = self._kind
        if kind is None:
            return
        item = self.items[-1]
        text = "".join(self._text)
        at = self._at()
        if kind == "message":
            logprobs, self._logprobs, self._unsent_logprobs = self._logprobs, [], []
            part = {"type": "output_text", "text": text, "annotations": [], "logprobs": logprobs}
            self._emit(out, "response.output_text.done", **at, content_index=0, text=text, logprobs=logprobs)
            self._emit(out, "response.content_part.done", **at, content_index=0, part=part)
            item["content"] = [part]
        elif kind == "reasoning":
            part = {"type": "reasoning_text", "text": text}
            self._emit(out, "response.reasoning_text.done", **at, content_index=0, text=text)
            self._emit(out, "response.content_part.done", **at, content_index=0, part=part)
            item["content"] = [part]
            if self._summary:
                summary = {"type": "summary_text", "text": text}
                self._emit(out, "response.reasoning_summary_text.done", **at, summary_index=0, text=text)
                self._emit(out, "response.reasoning_summary_part.done", **at, summary_index=0, part=summary)
                item["summary"] = [summary]
            if self._seal is not None:
                item["encrypted_content"] = self._seal(text)
        elif kind == "function_call":
            item["arguments"] = text
            name = item["name"]
            self._emit(out, "response.function_call_arguments.done", **at, name=name, arguments=text)
        elif kind == "custom_tool_call":
            assert self._freeform is not None
            item["input"] = self._freeform.value()
            self._emit(out, "response.custom_tool_call_input.done", **at, input=item["input"])
            self._freeform = None
        item["status"] = status
        if self._streaming:
            encoded = _dumps(item)
            self._done.append(encoded)
            self._frame(
                out, "response.output_item.done", ',"output_index":%d,"item":%s' % (self._index, encoded)
            )
        self._kind = None
        self._text = []

    # -- frames ---------------------------------------------------------------------------------------

    def _at(self) -> dict[str, Any]:
        return {"item_id": self.items[-1]["id"], "output_index": self._index}

    def _emit(self, out: Frames, kind: str, **fields: Any) -> None:
        if self._streaming:
            body = {"type": kind, "sequence_number": self._sequence, **fields}
            out.append(sse.encode(_dumps(body), kind))
            self._sequence += 1

    def _frame(self, out: Frames, kind: str, fields: str) -> None:
        """An event whose fields are JSON text already (`,"key":value…`)."""
        out.append(sse.encode('{"type":"%s","sequence_number":%d%s}' % (kind, self._sequence, fields), kind))
        self._sequence += 1

    def _lifecycle(self, out: Frames, *kinds: str) -> None:
        """Events carrying the whole response. Its items were encoded as they finished; only the rest
        is encoded here (the final response repeats every item, and encoding them again cost more
        than all of a short answer's deltas)."""
        if not self._streaming:
            return
        head = _dumps({k: v for k, v in self.response.items() if k != "output"})
        encoded = '%s,"output":[%s]}' % (head[:-1], ",".join(self._done))
        for kind in kinds:
            self._frame(out, kind, ',"response":' + encoded)

    def _delta(self, out: Frames, kind: str, extra: str, delta: str) -> None:
        """The frequent delta events, written from a template rather than a dict each."""
        if self._streaming:
            data = '{"type":"%s","sequence_number":%d,%s%s,"delta":%s}' % (
                kind,
                self._sequence,
                self._where,
                extra,
                _string(delta),
            )
            out.append(sse.encode(data, kind))
            self._sequence += 1


async def response_sse(
    events: AsyncIterator[StreamEvent], output: Output, ended: Callable[[], None] | None = None
) -> AsyncIterator[bytes]:
    """The stream's events as SSE; an error after it started ends it with response.failed. `ended` is
    called when the stream ends, however it ends (a call, not a generator around this one: that would
    be one more step for every frame)."""
    try:
        async for event in events:
            if frames := output.feed(event):
                yield b"".join(frames)
    except ServerError as exc:
        yield b"".join(output.fail(exc))
    except Exception:
        log.exception("stream failed after it started")
        yield b"".join(output.fail(internal_error()))
    finally:
        if ended is not None:
            ended()


async def response(events: AsyncIterator[StreamEvent], output: Output) -> dict[str, Any]:
    """The whole response: the fold of the same events."""
    async for event in events:
        output.feed(event)
    if output.response["status"] == "in_progress":
        raise RuntimeError("backend stream ended without MessageEnd")
    _once(output.items)
    return output.response


def _once(items: list[dict[str, Any]]) -> None:
    """An answer left inside a prompt-opened <think>: a whole response carries it once, as the answer."""
    for i in range(len(items) - 1):
        first, then = items[i], items[i + 1]
        if first["type"] == "reasoning" and then["type"] == "message":
            thought = "".join(p["text"] for p in first.get("content") or ())
            if said_twice(thought, "".join(p.get("text", "") for p in then["content"])):
                del items[i]
                return
