"""OpenAI requests → core requests (pure; raises InvalidRequest with the offending parameter)."""

from __future__ import annotations

from typing import Any

from ..core.errors import InvalidRequest
from ..core.request import (
    ChatRequest,
    CompletionRequest,
    Content,
    HistoryToolCall,
    ImagePart,
    JsonAnswer,
    Message,
    NamedTool,
    Sampling,
    Thinking,
    Tool,
)
from . import schema


def chat_request(body: schema.ChatCompletionRequest) -> ChatRequest:
    tools = tuple(
        Tool(
            t.function.name,
            t.function.description or "",
            # No parameters is OpenAI's "takes nothing": an empty parameter list, not any arguments.
            t.function.parameters or {"type": "object", "properties": {}},
            strict=bool(t.function.strict),
        )
        for t in body.tools or ()
    )
    choice = body.tool_choice
    return ChatRequest(
        model=body.model,
        messages=tuple(_message(m, i) for i, m in enumerate(body.messages)),
        tools=tools,
        tool_choice=NamedTool(choice.function.name)
        if isinstance(choice, schema.NamedToolChoice)
        else choice or "auto",
        parallel_tool_calls=body.parallel_tool_calls,
        response_format=_response_format(body.response_format),
        sampling=sampling(
            body, body.max_completion_tokens or body.max_tokens, body.logprobs, body.top_logprobs or 0
        ),
        thinking=_thinking(body),
        template_kwargs={
            k: v for k, v in (body.chat_template_kwargs or {}).items() if k not in _THINKING_KWARGS
        },
    )


def _response_format(fmt: schema.ResponseFormat | None) -> JsonAnswer | None:
    if fmt is None or fmt.type == "text":
        return None
    if fmt.type == "json_object":
        return JsonAnswer()
    spec = fmt.json_schema or {}
    schema_ = spec.get("schema")
    if schema_ is not None and not isinstance(schema_, dict):
        raise InvalidRequest("json_schema.schema must be a JSON schema object", param="response_format")
    return JsonAnswer(schema_)


def completion_request(body: schema.CompletionRequest) -> CompletionRequest:
    prompt: str | tuple[int, ...]
    if isinstance(body.prompt, str):
        prompt = body.prompt
    elif all(isinstance(p, int) for p in body.prompt):
        prompt = tuple(body.prompt)  # type: ignore[arg-type]
    elif len(body.prompt) == 1:
        prompt = str(body.prompt[0])
    else:
        raise InvalidRequest(
            "send one prompt per request (a batch of prompts is not supported)", param="prompt"
        )
    if body.echo:
        raise InvalidRequest("echo is not supported", param="echo")
    logprobs = body.logprobs is not None
    return CompletionRequest(
        body.model, prompt, sampling(body, body.max_tokens, logprobs, body.logprobs or 0)
    )


def sampling(body: schema.Sampling, max_tokens: int | None, logprobs: bool, top_logprobs: int) -> Sampling:
    stop = (body.stop,) if isinstance(body.stop, str) else tuple(body.stop or ())
    return Sampling(
        max_tokens=max_tokens,
        temperature=body.temperature,
        top_p=body.top_p,
        top_k=body.top_k,
        min_p=body.min_p,
        seed=body.seed,
        stop=tuple(s for s in stop if s),
        presence_penalty=body.presence_penalty,
        frequency_penalty=body.frequency_penalty,
        repetition_penalty=body.repetition_penalty,
        min_tokens=body.min_tokens,
        ignore_eos=body.ignore_eos,
        logprobs=logprobs,
        top_logprobs=top_logprobs,
    )


_THINKING_KWARGS = ("enable_thinking", "thinking", "clear_thinking", "reasoning_effort")


def _thinking(body: schema.ChatCompletionRequest) -> Thinking:
    kwargs = body.chat_template_kwargs or {}
    enabled = kwargs.get("enable_thinking", kwargs.get("thinking"))
    clear = kwargs.get("clear_thinking")
    if body.thinking is not None:  # the hosted API's spelling
        enabled = body.thinking.type == "enabled"
        if body.thinking.clear_thinking is not None:
            clear = body.thinking.clear_thinking
    effort = kwargs.get("reasoning_effort", body.reasoning_effort)
    for name, value in (("enable_thinking", enabled), ("clear_thinking", clear)):
        if value is not None and not isinstance(value, bool):
            raise InvalidRequest(f"{name} must be true or false", param=f"chat_template_kwargs.{name}")
    return Thinking(enabled=enabled, clear=clear, effort=str(effort) if effort is not None else None)


def _message(m: schema.ChatMessage, index: int) -> Message:
    role = "system" if m.role == "developer" else m.role
    content = _content(m.content, index)
    if role == "assistant":
        calls = tuple(_history_call(c, index, j) for j, c in enumerate(m.tool_calls or ()))
        return Message("assistant", content, reasoning=m.reasoning_content or m.reasoning, tool_calls=calls)
    if role == "tool":
        return Message("tool", content, tool_call_id=m.tool_call_id)
    return Message(role, content)


def _content(content: str | list[schema.ContentPart] | None, index: int) -> Content:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    parts: list[str | ImagePart] = []
    for part in content:
        if part.type == "text":
            parts.append(part.text or "")
        elif part.type == "image_url" and part.image_url is not None:
            url = part.image_url if isinstance(part.image_url, str) else part.image_url.url
            parts.append(ImagePart(url))
        else:
            raise InvalidRequest(
                f"unsupported content part type {part.type!r}", param=f"messages[{index}].content"
            )
    return tuple(parts)


def _history_call(call: schema.ToolCall, index: int, j: int) -> HistoryToolCall:
    args: Any = call.function.arguments
    if isinstance(args, str):
        return HistoryToolCall.from_text(call.id, call.function.name, args)
    if not isinstance(args, dict):
        raise InvalidRequest(
            "tool call arguments must be a JSON object (or its text)",
            param=f"messages[{index}].tool_calls[{j}].function.arguments",
        )
    return HistoryToolCall(call.id, call.function.name, args)
