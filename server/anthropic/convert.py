"""Anthropic Messages requests → core requests (pure; raises InvalidRequest naming the parameter)."""

from __future__ import annotations

import re

from ..core.errors import InvalidRequest
from ..core.request import (
    ChatRequest,
    HistoryToolCall,
    ImagePart,
    JsonAnswer,
    Message,
    NamedTool,
    Sampling,
    Thinking,
    Tool,
    ToolChoice,
)
from . import schema

# Claude Code (≥ 2.1.36) puts this line first in its system prompt with a per-request nonce (cch=…).
# It means nothing to the model and, at the very start of the prompt, it would defeat prefix caching
# on every turn, so it is dropped (llama.cpp PR#20623, vllm-mlx PR#277).
_BILLING_HEADER = re.compile(r"^x-anthropic-billing-header:[^\n]*\n?", re.MULTILINE)


def chat_request(body: schema.MessagesRequest) -> ChatRequest:
    output = body.output_config.format if body.output_config else body.output_format
    return ChatRequest(
        model=body.model,
        messages=tuple(_system(body.system) + _messages(body.messages)),
        tools=_tools(body.tools, body.messages),
        tool_choice=tool_choice(body.tool_choice),
        parallel_tool_calls=not (body.tool_choice and body.tool_choice.disable_parallel_tool_use),
        response_format=JsonAnswer(output.schema_) if output is not None else None,
        sampling=Sampling(
            max_tokens=body.max_tokens,
            temperature=body.temperature,
            top_p=body.top_p,
            top_k=body.top_k,
            seed=body.seed,
            stop=tuple(s for s in body.stop_sequences or () if s),
        ),
        thinking=thinking(body.thinking, body.output_config),
    )


def count_request(body: schema.CountTokensRequest) -> ChatRequest:
    return ChatRequest(
        model=body.model,
        messages=tuple(_system(body.system) + _messages(body.messages)),
        tools=_tools(body.tools, body.messages),
        tool_choice=tool_choice(body.tool_choice),
        thinking=thinking(body.thinking, body.output_config),
    )


def tool_choice(choice: schema.ToolChoice | None) -> ToolChoice:
    """Anthropic's choices in the core's terms: `any` is OpenAI's `required`, `tool` names one tool."""
    if choice is None or choice.type == "auto":
        return "auto"
    if choice.type == "none":
        return "none"
    if choice.type == "any":
        return "required"
    if not choice.name:
        raise InvalidRequest("tool_choice of type 'tool' needs the tool's name", param="tool_choice.name")
    return NamedTool(choice.name)


def _tools(tools: list[schema.Tool] | None, messages: list[schema.Message]) -> tuple[Tool, ...]:
    """The tools the prompt offers: a tool declared with defer_loading stays out until a tool_reference in
    the conversation names it (Claude Code's deferred tools, loaded by its tool search), then is in from
    that request on, as GLM-5.2's own template treats deferred tools."""
    referenced = _referenced(messages)
    return tuple(
        Tool(t.name, t.description or "", t.input_schema, bool(t.strict))
        for t in tools or ()
        if not t.defer_loading or t.name in referenced
    )


def _referenced(messages: list[schema.Message]) -> set[str]:
    return {
        part.tool_name
        for m in messages
        if not isinstance(m.content, str)
        for block in m.content
        if isinstance(block, schema.ToolResultBlock) and not isinstance(block.content, str)
        for part in block.content
        if isinstance(part, schema.ToolReferenceBlock)
    }


# output_config.effort in GLM's reasoning_effort levels, as the Responses wire maps reasoning.effort.
_EFFORT = {"low": "low", "medium": "high", "high": "high", "xhigh": "max", "max": "max"}
# thinking.budget_tokens in the same levels: Claude Code asks 4k ("think"), ~10k ("think hard"), ~32k.
_BUDGETS = ((4096, "low"), (16384, "high"))


def thinking(config: schema.ThinkingConfig | None, output: schema.OutputConfig | None = None) -> Thinking:
    """`enabled`/`adaptive` think, `disabled` does not; absent leaves the server's default (GLM thinks).

    How much: output_config.effort where given, else budget_tokens by range, as GLM's reasoning_effort
    (the templates that read it: GLM-5 and later; each backend fits it to the model's levels). GLM has no
    token budget of its own, so budget_tokens only picks a level.
    """
    effort = _EFFORT.get(output.effort) if output is not None and output.effort else None
    if effort is None and config is not None and config.budget_tokens:
        effort = next((level for most, level in _BUDGETS if config.budget_tokens <= most), "max")
    if config is None:
        return Thinking(effort=effort)
    if config.type == "disabled":
        return Thinking(enabled=False)
    return Thinking(enabled=True, effort=effort)


def strip_billing_header(text: str) -> str:
    return _BILLING_HEADER.sub("", text)


def _system(system: str | list[schema.TextBlock] | None) -> list[Message]:
    if system is None:
        return []
    texts = [system] if isinstance(system, str) else [b.text for b in system]
    text = "\n".join(t for t in (strip_billing_header(t) for t in texts) if t)
    return [Message("system", text)] if text else []


def _messages(messages: list[schema.Message]) -> list[Message]:
    """The conversation as GLM's turns. Claude Code sends `system` messages (<system-reminder> text) in
    the middle of it; a system turn there is not something GLM saw in training, so their text joins a
    user turn, chosen so that no turn renders differently once the conversation grows (the prompt's
    prefix, and the prefix cache, are kept): right after a user turn (where Claude Code puts its agent
    list, before the model's answer), it closes that turn; after an answer, it opens the next user turn,
    or stands as one when none has come yet (which the next user message will then continue)."""
    out: list[Message] = []
    waiting: list[str] = []  # system text for the next user turn
    last_user: int | None = None  # where the last user turn starts in `out`, while it is the last
    for i, m in enumerate(messages):
        if m.role == "system" and any(x.role != "system" for x in out):
            text = "\n".join(t for t in _texts(m.content) if t)
            if not text:
                continue
            if last_user is not None:
                out[last_user:] = _with_text(out[last_user:], text, first=False)
            else:
                waiting.append(text)
            continue
        if isinstance(m.content, str):
            content = strip_billing_header(m.content) if m.role == "system" else m.content
            turn = [Message(m.role, content)] if content or m.role == "assistant" else []
        elif m.role == "assistant":
            turn = [_assistant(m.content, i)]
        else:
            turn = _user(m.role, m.content, i)
        if waiting and m.role == "user":
            turn = _with_text(turn, "\n".join(waiting), first=True)
            waiting = []
        last_user = len(out) if m.role == "user" and turn else None
        out += turn
    if waiting:
        out.append(Message("user", "\n".join(waiting)))
    return out


def _texts(content: str | list[schema.Block]) -> list[str]:
    if isinstance(content, str):
        return [strip_billing_header(content)]
    return [strip_billing_header(b.text) for b in content if isinstance(b, schema.TextBlock)]


def _with_text(turn: list[Message], text: str, *, first: bool) -> list[Message]:
    """`turn` (tool results, then maybe a user message) with `text` opening or closing its user message."""
    if not turn or turn[-1].role != "user":
        return [*turn, Message("user", text)]
    user = turn[-1]
    if isinstance(user.content, str):
        joined = f"{text}\n{user.content}" if first else f"{user.content}\n{text}"
        content: str | tuple[str | ImagePart, ...] = joined if user.content else text
    else:
        content = (f"{text}\n", *user.content) if first else (*user.content, f"\n{text}")
    return [*turn[:-1], Message("user", content)]


def _assistant(blocks: list[schema.Block], index: int) -> Message:
    reasoning: list[str] = []
    text: list[str] = []
    calls: list[HistoryToolCall] = []
    for block in blocks:
        if isinstance(block, schema.ThinkingBlock):
            reasoning.append(block.thinking)  # kept: GLM's interleaved thinking reads it back
        elif isinstance(block, schema.TextBlock):
            text.append(block.text)
        elif isinstance(block, schema.ToolUseBlock):
            calls.append(HistoryToolCall(block.id, block.name, block.input))
        elif not isinstance(block, schema.RedactedThinkingBlock):
            raise InvalidRequest(
                f"an assistant turn cannot hold a {block.type} block", param=f"messages[{index}].content"
            )
    return Message(
        "assistant", "".join(text), reasoning="\n\n".join(reasoning) or None, tool_calls=tuple(calls)
    )


def _user(role: str, blocks: list[schema.Block], index: int) -> list[Message]:
    """A user turn: its tool results become tool messages (GLM's observations), then its own content.

    GLM's templates place images in user turns only, so an image a tool returned (Claude Code's Read of a
    screenshot) travels in the user message that follows the observations.
    """
    results: list[Message] = []
    parts: list[str | ImagePart] = []
    where = f"messages[{index}].content"
    for j, block in enumerate(blocks):
        if isinstance(block, schema.ToolResultBlock):
            results.append(Message("tool", _result_text(block), tool_call_id=block.tool_use_id))
            if not isinstance(block.content, str):
                parts += [
                    _image(b, f"{where}[{j}].content")
                    for b in block.content
                    if isinstance(b, schema.ImageBlock)
                ]
        elif isinstance(block, schema.TextBlock):
            if block.text:  # an empty block (Claude Code sends some, for cache_control) is no text at all
                parts.append(strip_billing_header(block.text) if role == "system" else block.text)
        elif isinstance(block, schema.ImageBlock):
            parts.append(_image(block, f"{where}[{j}]"))
        elif isinstance(block, schema.ThinkingBlock | schema.RedactedThinkingBlock):
            continue
        else:
            raise InvalidRequest(f"a {role} turn cannot hold a {block.type} block", param=where)
    out = results
    if parts:
        out.append(Message("system" if role == "system" else "user", tuple(parts)))
    return out


def _image(block: schema.ImageBlock, where: str) -> ImagePart:
    """An image block's source (base64 with its media type, or a URL) as one image part."""
    source = block.source
    kind = source.get("type")
    if kind == "base64" and isinstance(source.get("data"), str) and isinstance(source.get("media_type"), str):
        return ImagePart.inline(source["media_type"], source["data"])
    if kind == "url" and isinstance(source.get("url"), str):
        return ImagePart(source["url"])
    raise InvalidRequest(
        "an image source is {type: base64, media_type, data} or {type: url, url}", param=f"{where}.source"
    )


def _result_text(block: schema.ToolResultBlock) -> str:
    if isinstance(block.content, str):
        text = block.content
    else:
        text = "".join(
            b.text if isinstance(b, schema.TextBlock) else f"Tool {b.tool_name} is now available.\n"
            for b in block.content
            if isinstance(b, schema.TextBlock | schema.ToolReferenceBlock)
        ).rstrip("\n")
    # GLM's observation block has no error flag, so the model is told in words.
    return f"Error: {text}" if block.is_error else text
