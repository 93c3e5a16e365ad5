"""Core events → OpenAI chat.completion(.chunk) and text_completion bodies, streamed or whole."""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Any

from parsers import ReasoningDelta, TextDelta, ToolArgsDelta, ToolCallStart

from ..core.collect import Completion
from ..core.errors import ServerError, internal_error
from ..core.events import LogprobsDelta, MessageEnd, MessageStart, TokenLogprob, Usage
from ..core.streams import Tagged
from ..http import sse
from ..http.request_id import with_request_id

log = logging.getLogger("glm_serve.openai")
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def error_body(exc: ServerError) -> dict[str, Any]:
    """An error as an HTTP answer or a streamed error event carries it, with the request's id."""
    error = {"message": exc.message, "type": exc.type, "param": exc.param, "code": exc.code}
    return with_request_id({"error": error})


def tool_call_id() -> str:
    return f"call_{uuid.uuid4().hex[:24]}"


def usage_body(usage: Usage) -> dict[str, Any]:
    body: dict[str, Any] = {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
        "prompt_tokens_details": {"cached_tokens": usage.cached_tokens},
    }
    if usage.reasoning_tokens is not None:  # left out where the backend cannot count them
        body["completion_tokens_details"] = {"reasoning_tokens": usage.reasoning_tokens}
    return body


def _add_usage(total: Usage | None, usage: Usage) -> Usage:
    if total is None:
        return usage
    # n choices share one prompt: count it once, add up what each choice generated.
    return Usage(
        total.prompt_tokens,
        total.completion_tokens + usage.completion_tokens,
        total.cached_tokens,
        None
        if total.reasoning_tokens is None or usage.reasoning_tokens is None
        else total.reasoning_tokens + usage.reasoning_tokens,
    )


def _logprobs_body(tokens: Sequence[TokenLogprob]) -> dict[str, Any]:
    return {"content": [t.as_openai() for t in tokens]}


def _total_usage(choices: Sequence[Completion]) -> Usage:
    usage: Usage | None = None
    for c in choices:
        usage = _add_usage(usage, c.usage)
    assert usage is not None
    return usage


async def _guarded(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """The chunks, then [DONE]; an error after the first byte becomes one error event before it."""
    try:
        async for chunk in chunks:
            yield chunk
    except ServerError as exc:
        yield sse.encode(_dumps(error_body(exc)))
    except Exception:
        log.exception("stream failed after it started")
        yield sse.encode(_dumps(error_body(internal_error())))
    yield sse.DONE


# -- chat completions -----------------------------------------------------------------------------


def chat_sse(events: AsyncIterator[Tagged], *, include_usage: bool) -> AsyncIterator[bytes]:
    """chat.completion.chunk events, then [DONE]. An error after the first byte becomes one error event."""
    return _guarded(_chat_chunks(events, include_usage))


async def _chat_chunks(events: AsyncIterator[Tagged], include_usage: bool) -> AsyncIterator[bytes]:
    head = ""
    pending_logprobs: dict[int, list[TokenLogprob]] = {}
    usage: Usage | None = None
    created = int(time.time())

    def chunk(index: int, delta: str, finish: str | None = None) -> bytes:
        lp = pending_logprobs.pop(index, None)
        lp_json = _dumps(_logprobs_body(lp)) if lp else "null"
        finish_json = f'"{finish}"' if finish else "null"
        return sse.encode(
            f'{head}{index},"delta":{delta},"logprobs":{lp_json},"finish_reason":{finish_json}}}]}}'
        )

    async for index, event in events:
        if isinstance(event, TextDelta):
            yield chunk(index, '{"content":' + _dumps(event.text) + "}")
        elif isinstance(event, ReasoningDelta):
            text = _dumps(event.text)
            yield chunk(index, '{"reasoning_content":' + text + ',"reasoning":' + text + "}")
        elif isinstance(event, ToolArgsDelta):
            yield chunk(
                index,
                '{"tool_calls":[{"index":%d,"function":{"arguments":%s}}]}'
                % (event.index, _dumps(event.json)),
            )
        elif isinstance(event, ToolCallStart):
            yield chunk(
                index,
                '{"tool_calls":[{"index":%d,"id":"%s","type":"function","function":'
                '{"name":%s,"arguments":""}}]}' % (event.index, tool_call_id(), _dumps(event.name)),
            )
        elif isinstance(event, LogprobsDelta):
            pending_logprobs.setdefault(index, []).extend(event.tokens)
        elif isinstance(event, MessageStart):
            if not head:
                head = (
                    '{"id":%s,"object":"chat.completion.chunk","created":%d,"model":%s,"choices":[{"index":'
                    % (_dumps(event.request_id), created, _dumps(event.model))
                )
            yield chunk(index, '{"role":"assistant","content":""}')
        elif isinstance(event, MessageEnd):
            usage = _add_usage(usage, event.usage)
            yield chunk(index, "{}", event.finish_reason)
    if include_usage and usage is not None:
        yield sse.encode(
            head.split(',"choices"')[0] + ',"choices":[],"usage":' + _dumps(usage_body(usage)) + "}"
        )


def chat_completion(choices: Sequence[Completion]) -> dict[str, Any]:
    usage = _total_usage(choices)
    return {
        "id": choices[0].request_id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": choices[0].model,
        "choices": [
            {
                "index": i,
                "message": {
                    "role": "assistant",
                    "content": c.content,
                    "reasoning_content": c.reasoning,
                    "reasoning": c.reasoning,
                    "tool_calls": [
                        {
                            "id": tool_call_id(),
                            "type": "function",
                            "function": {"name": call.name, "arguments": call.arguments},
                        }
                        for call in c.tool_calls
                    ],
                },
                "logprobs": _logprobs_body(c.logprobs) if c.logprobs is not None else None,
                "finish_reason": c.finish_reason,
            }
            for i, c in enumerate(choices)
        ],
        "usage": usage_body(usage),
    }


# -- text completions -----------------------------------------------------------------------------


def _text_logprobs(tokens: Sequence[TokenLogprob]) -> dict[str, Any]:
    return {
        "tokens": [t.token for t in tokens],
        "token_logprobs": [t.logprob for t in tokens],
        "top_logprobs": [{x.token: x.logprob for x in t.top} for t in tokens],
        "text_offset": [],
    }


def completion_sse(events: AsyncIterator[Tagged], *, include_usage: bool) -> AsyncIterator[bytes]:
    """text_completion chunks, then [DONE]; errors as in chat_sse."""
    return _guarded(_completion_chunks(events, include_usage))


async def _completion_chunks(events: AsyncIterator[Tagged], include_usage: bool) -> AsyncIterator[bytes]:
    head: dict[str, Any] = {}
    usage: Usage | None = None
    logprobs: dict[int, list[TokenLogprob]] = {}

    def chunk(index: int, text: str, finish: str | None) -> bytes:
        lp = logprobs.pop(index, None)
        body = {
            **head,
            "choices": [
                {
                    "index": index,
                    "text": text,
                    "finish_reason": finish,
                    "logprobs": _text_logprobs(lp) if lp else None,
                }
            ],
        }
        return sse.encode(_dumps(body))

    async for index, event in events:
        if isinstance(event, TextDelta):
            yield chunk(index, event.text, None)
        elif isinstance(event, LogprobsDelta):
            logprobs.setdefault(index, []).extend(event.tokens)
        elif isinstance(event, MessageStart) and not head:
            head = {
                "id": event.request_id,
                "object": "text_completion",
                "created": int(time.time()),
                "model": event.model,
            }
        elif isinstance(event, MessageEnd):
            usage = _add_usage(usage, event.usage)
            yield chunk(index, "", event.finish_reason)
    if include_usage and usage is not None:
        yield sse.encode(_dumps({**head, "choices": [], "usage": usage_body(usage)}))


def text_completion(choices: Sequence[Completion]) -> dict[str, Any]:
    usage = _total_usage(choices)
    return {
        "id": choices[0].request_id,
        "object": "text_completion",
        "created": int(time.time()),
        "model": choices[0].model,
        "choices": [
            {
                "index": i,
                "text": c.content or "",
                "finish_reason": c.finish_reason,
                "logprobs": _text_logprobs(c.logprobs) if c.logprobs is not None else None,
            }
            for i, c in enumerate(choices)
        ],
        "usage": usage_body(usage),
    }
