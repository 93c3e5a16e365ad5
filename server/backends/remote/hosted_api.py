"""The hosted BigModel / Z.ai chat API's wire: model ids, the request it accepts, its business codes as
our errors, its stream chunks as our events."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterable, AsyncIterator, Mapping, Sequence
from dataclasses import replace
from pathlib import PurePath
from typing import Any

from parsers import ReasoningDelta, TextDelta, ToolArgsDelta, ToolCallEnd, ToolCallStart

from ...core import releases
from ...core.errors import (
    ContextTooLong,
    InvalidRequest,
    ModelNotFound,
    RateLimited,
    ServerError,
    UpstreamError,
)
from ...core.events import FinishReason, MessageEnd, MessageStart, StreamEvent, Usage
from ...core.releases.release import HOSTED_SAMPLING, Release
from ...core.request import ChatRequest, CompletionRequest, Content, ImagePart, Message, SamplingValues
from ...settings import RemoteSettings

log = logging.getLogger("glm_serve.hosted")

MAINLAND = "https://open.bigmodel.cn/api/paas/v4"
# Business codes worth another try (transient on the hosted side); every other code is final.
RETRYABLE = frozenset({"1120", "1230", "1234", "1302", "1303", "1305", "1312", "2007", "3002", "500"})
_QUOTA = frozenset({"1113", "1304", "1308", "1309", "1310", "1311", "1313"})
_FINISH: Mapping[str, FinishReason] = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "sensitive": "content_filter",
    "model_context_window_exceeded": "length",
}


def catalogue_name(name: str) -> str | None:
    """The hosted id a model name stands for, if any: a hosted id in any case (`GLM-4.7-FlashX`), else
    the main hosted id of the release it names (`zai-org/GLM-4.6V-FP8` → glm-4.6v)."""
    base = PurePath(name).name.lower()
    if base in releases.hosted_ids():
        return base
    release = releases.find(name)
    return release.hosted[0] if release is not None and release.hosted else None


def hosted_model(name: str, settings: RemoteSettings) -> str:
    """A local model name (`glm-4.5-air`, `GLM-4.7-FP8`, a weights path) as the hosted API's id."""
    return catalogue_name(settings.hosted_model_map.get(name, name)) or settings.hosted_model


def _error_object(body: Mapping[str, Any]) -> Mapping[str, Any]:
    error = body.get("error")
    return error if isinstance(error, dict) else {}


def error_from(status: int, body: Mapping[str, Any], retry_after: float | None = None) -> ServerError:
    """The hosted API's error body (`{"error": {"code": "1302", "message": …}}`) as our error, with its
    Retry-After passed on."""
    exc = _error_from(status, body)
    if retry_after is not None and exc.status in (429, 503):
        exc.retry_after = retry_after
    return exc


def _error_from(status: int, body: Mapping[str, Any]) -> ServerError:
    error = _error_object(body)
    code = str(error.get("code", status))
    message = f"hosted API error {code}: {error.get('message') or 'no message'}"
    if status == 401 or code in {"1000", "1001", "1002", "1003", "1004", "401"}:
        # The client cannot fix the server's key: report it as the upstream's failure, without the key.
        return UpstreamError(
            "the hosted API rejected this server's API key", status=502, code="upstream_auth"
        )
    if code in _QUOTA:
        return RateLimited(message, code="insufficient_quota" if code == "1113" else "quota_exceeded")
    if code in {"1302", "1303", "1305", "1312"} or status == 429:
        return RateLimited(message, code="rate_limit_exceeded")
    if code == "1211":
        return ModelNotFound(message, param="model")
    if code == "1261":
        return ContextTooLong(message, param="messages")
    if code in {"1300", "1301"}:
        return InvalidRequest(message, code="content_filter")
    if status == 400 or code.startswith("12"):
        return InvalidRequest(message)
    return UpstreamError(message, status=502, code=code)


def retryable(status: int, body: Mapping[str, Any]) -> bool:
    return str(_error_object(body).get("code", "")) in RETRYABLE or status >= 500


def _content(content: Content, text_only: str | None) -> str | list[dict[str, Any]]:
    """Text as a string; text with images as OpenAI content parts (image_url with the data: or http URL
    as given), unless `text_only` names a model that reads no images."""
    if isinstance(content, str):
        return content
    if not any(isinstance(p, ImagePart) for p in content):
        return "".join(p for p in content if isinstance(p, str))
    if text_only is not None:
        raise InvalidRequest(
            f"{text_only} reads text only; send images to a vision model "
            f"({', '.join(releases.hosted_vision_ids()[:5])})",
            param="messages",
        )
    return [
        {"type": "text", "text": p}
        if isinstance(p, str)
        else {"type": "image_url", "image_url": {"url": p.url}}
        for p in content
    ]


def wire_messages(messages: Sequence[Message], text_only: str | None = None) -> list[dict[str, Any]]:
    """Messages in the hosted (OpenAI) shape: arguments as JSON text, reasoning back as reasoning_content.
    Images pass as content parts unless `text_only` names the model that would refuse them."""
    out: list[dict[str, Any]] = []
    for m in messages:
        item: dict[str, Any] = {"role": m.role, "content": _content(m.content, text_only)}
        if m.role == "assistant":
            if m.reasoning:
                item["reasoning_content"] = m.reasoning  # required back when clear_thinking is false
            if m.tool_calls:
                item["tool_calls"] = [
                    {
                        "id": c.id,
                        "type": "function",
                        "function": {
                            "name": c.name,
                            "arguments": c.arguments_json(),
                        },
                    }
                    for c in m.tool_calls
                ]
        elif m.role == "tool":
            item["tool_call_id"] = m.tool_call_id or ""
        out.append(item)
    return out


def request_body(req: ChatRequest, model: str, release: Release | None) -> dict[str, Any]:
    """The request as the hosted API accepts it (it takes fewer knobs than OpenAI's API)."""
    s = req.sampling
    if s.logprobs:
        raise InvalidRequest("the hosted API returns no logprobs", param="logprobs")
    if len(s.stop) > 1:
        raise InvalidRequest("the hosted API accepts a single stop sequence", param="stop")
    if req.forces_call:
        raise InvalidRequest(
            "the hosted API accepts only tool_choice 'auto': it cannot force a tool call "
            "(serve the weights locally for enforced tool_choice)",
            param="tool_choice",
        )
    if req.response_format is not None and req.response_format.schema is not None:
        raise InvalidRequest(
            "the hosted API has JSON mode (json_object) but no json_schema response_format",
            param="response_format",
        )
    text_only = None if model in releases.hosted_vision_ids() else model
    body: dict[str, Any] = {
        "model": model,
        "messages": wire_messages(req.messages, text_only),
        "stream": True,
    }
    if s.max_tokens is not None:
        body["max_tokens"] = s.max_tokens  # it ignores max_completion_tokens
    if s.temperature is not None:
        body["temperature"] = _temperature(s.temperature)
    if s.top_p is not None:
        body["top_p"] = _top_p(s.top_p)
    if s.stop:
        body["stop"] = list(s.stop)
    if s.seed is not None:
        body["seed"] = s.seed
    if req.thinking.effort is not None and release is not None and release.efforts:
        body["reasoning_effort"] = req.thinking.effort  # GLM-5.2+ (fitted to the release's levels)
    if req.thinking.enabled is not None or req.thinking.clear is not None:
        thinking: dict[str, Any] = {"type": "disabled" if req.thinking.enabled is False else "enabled"}
        if req.thinking.clear is not None:
            thinking["clear_thinking"] = req.thinking.clear
        body["thinking"] = thinking
    if req.parses_tools:
        body["tools"] = [t.as_openai() for t in req.tools]
        body["tool_choice"] = "auto"
        body["tool_stream"] = True  # arguments arrive in pieces instead of one chunk at the end
    if req.response_format is not None:
        body["response_format"] = {"type": "json_object"}
    return body


def _temperature(value: float) -> float:
    return min(max(value, 0.0), 1.0)  # its range is [0, 1], OpenAI's [0, 2]


def _top_p(value: float) -> float:
    return min(max(value, 0.01), 1.0)


def sampling_used(req: ChatRequest, release: Release | None) -> SamplingValues:
    """What the hosted model samples `req` with: the values request_body sends, else its documented
    defaults for the model (`release`'s); it takes no penalties."""
    defaults = release.hosted_sampling if release else HOSTED_SAMPLING
    s = req.sampling
    return SamplingValues(
        defaults.temperature if s.temperature is None else _temperature(s.temperature),
        defaults.top_p if s.top_p is None else _top_p(s.top_p),
    )


def estimate_tokens(req: ChatRequest | CompletionRequest) -> int:
    """A tokenizer-free estimate (about three characters a token for GLM's mixed text and JSON)."""
    if isinstance(req, CompletionRequest):
        return len(req.prompt) if isinstance(req.prompt, tuple) else max(1, len(req.prompt) // 3)
    # An image costs what its pixels cost, not its URL's length: about a thousand tokens at the V models'
    # usual resolution.
    images = sum(
        isinstance(p, ImagePart) for m in req.messages if not isinstance(m.content, str) for p in m.content
    )
    size = len(json.dumps(wire_messages(_without_images(req.messages)), ensure_ascii=False))
    size += len(json.dumps([t.as_openai() for t in req.tools], ensure_ascii=False)) if req.tools else 0
    return max(1, size // 3) + IMAGE_TOKENS * images


IMAGE_TOKENS = 1000


def _without_images(messages: Sequence[Message]) -> list[Message]:
    return [
        m
        if isinstance(m.content, str)
        else replace(m, content=tuple(p for p in m.content if isinstance(p, str)))
        for m in messages
    ]


async def chunk_events(
    chunks: AsyncIterable[dict[str, Any]], start: MessageStart
) -> AsyncIterator[StreamEvent]:
    """Structured chunks (reasoning_content, content, tool_calls, usage) as our events. `start` comes
    once the first chunk has, so that a stream failing before it is an error status, not an event."""
    started = False
    calls: dict[int, bool] = {}  # index → has arguments
    finish = "stop"
    usage: Mapping[str, Any] = {}
    async for chunk in chunks:
        if not started:
            started = True
            yield start
        for choice in chunk.get("choices") or ():
            delta = choice.get("delta") or {}
            if reasoning := delta.get("reasoning_content") or delta.get("reasoning"):
                yield ReasoningDelta(reasoning)
            if content := delta.get("content"):
                yield TextDelta(content)
            for call in delta.get("tool_calls") or ():
                index = int(call.get("index", len(calls)))
                function = call.get("function") or {}
                if index not in calls:
                    calls[index] = False
                    yield ToolCallStart(index, str(function.get("name", "")))
                args = function.get("arguments")
                if isinstance(args, dict):  # the docs type it as an object; the wire sends text
                    args = json.dumps(args, ensure_ascii=False)
                if args:
                    calls[index] = True
                    yield ToolArgsDelta(index, args)
            finish = choice.get("finish_reason") or finish
        usage = chunk.get("usage") or usage
    if not started:
        yield start
    if finish == "network_error":
        raise UpstreamError("the hosted model failed mid-generation (finish_reason network_error)")
    for index, has_args in calls.items():
        if not has_args:
            yield ToolArgsDelta(index, "{}")
        yield ToolCallEnd(index)
    mapped = _FINISH.get(finish, "stop")
    if finish not in _FINISH:
        log.warning("unknown finish_reason %r from the upstream, reported as stop", finish)
    elif finish in ("sensitive", "model_context_window_exceeded"):
        log.warning("the hosted API ended a response with finish_reason %r", finish)
    prompt_details = usage.get("prompt_tokens_details") or {}
    completion_details = usage.get("completion_tokens_details") or {}
    yield MessageEnd(
        mapped,
        Usage(
            int(usage.get("prompt_tokens", 0)),
            int(usage.get("completion_tokens", 0)),
            int(prompt_details.get("cached_tokens", 0)),
            int(completion_details.get("reasoning_tokens", 0)),
        ),
    )
