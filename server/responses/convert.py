"""Responses requests → core requests (pure; raises InvalidRequest naming the offending parameter).

Input items become GLM's turns: a user/system/developer message is one message; an assistant turn
gathers what the model wrote in one go (its reasoning, its text, its calls) until a tool output or the
next message; a tool output is a tool message. Custom (freeform) tools such as Codex's apply_patch are
offered to GLM as a function with one string argument, `input`. Built-in tools this server cannot run
(web_search, image_generation, mcp, namespace, local_shell…) are left out, and said so.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..core.errors import InvalidRequest
from ..core.request import (
    ChatRequest,
    Content,
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
from . import compact, schema
from .seal import Seal

log = logging.getLogger("glm_serve.responses")

CUSTOM_ARGUMENT = "input"
LOGPROBS = "message.output_text.logprobs"  # the `include` value that asks for the answer's logprobs
# reasoning.effort in the levels GLM's templates know (GLM-5.2+ read low / high / max); none and
# minimal turn thinking off.
_EFFORT = {"low": "low", "medium": "high", "high": "high", "xhigh": "max", "max": "max"}


@dataclass(frozen=True, slots=True)
class Converted:
    request: ChatRequest
    custom_tools: frozenset[str]  # calls to these come back as custom_tool_call items
    dropped_tools: tuple[str, ...]  # tools left out of the prompt (this server cannot run them)
    # A namespaced function's GLM name → its namespace and own name (Codex's MCP tools)
    namespaced: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    summary: bool = False  # reasoning.summary asked for: reasoning is also sent as a summary
    sealed_reasoning: bool = False  # include asked for reasoning.encrypted_content


def input_items(body: schema.ResponsesRequest | schema.CompactRequest) -> tuple[schema.Item, ...]:
    """The request's input as items (a string is one user message)."""
    if isinstance(body.input, str):
        return (schema.MessageItem(role="user", content=body.input),) if body.input else ()
    return tuple(body.input)


def chat_request(
    body: schema.ResponsesRequest,
    seal: Seal,
    earlier: Sequence[schema.Item] = (),
    given: Sequence[schema.Item] | None = None,
) -> Converted:
    """The core request for `body`, after the `earlier` items of the conversation (those a
    previous_response_id brought back); `given` is its input with references resolved (default: as sent)."""
    if body.background:
        raise InvalidRequest("background responses are not supported; stream instead", param="background")
    tools, custom, dropped, namespaced = _tools(body.tools or ())
    tools, choice = _tool_choice(body.tool_choice, tools)
    given = input_items(body) if given is None else given
    history = messages((*earlier, *given), seal, len(earlier))
    if not history:
        raise InvalidRequest("input is empty: send at least one message", param="input")
    system = (Message("system", body.instructions),) if body.instructions else ()
    request = ChatRequest(
        model=body.model,
        messages=(*system, *history),
        tools=tools,
        tool_choice=choice,
        parallel_tool_calls=body.parallel_tool_calls,
        response_format=_text_format(body.text),
        sampling=Sampling(
            max_tokens=body.max_output_tokens,
            temperature=body.temperature,
            top_p=body.top_p,
            presence_penalty=body.presence_penalty,
            frequency_penalty=body.frequency_penalty,
            logprobs=LOGPROBS in (body.include or ()),
            top_logprobs=body.top_logprobs or 0,
            seed=body.seed,
            top_k=body.top_k,
            min_p=body.min_p,
            repetition_penalty=body.repetition_penalty,
            min_tokens=body.min_tokens,
            ignore_eos=body.ignore_eos,
        ),
        thinking=_thinking(body.reasoning),
    )
    return Converted(
        request,
        frozenset(custom),
        tuple(dropped),
        namespaced,
        summary=bool(body.reasoning and body.reasoning.summary),
        sealed_reasoning="reasoning.encrypted_content" in (body.include or ()),
    )


# -- tools -------------------------------------------------------------------------------------------


# Built-in tools a client may offer that need no tool of ours: OpenAI's hosted search over deferred
# tools (this server puts every namespaced tool in the prompt instead).
_ACCEPTED = frozenset({"tool_search"})
NAMESPACE_SEPARATOR = "__"


def flat_name(namespace: str, name: str) -> str:
    """A namespaced function's name as GLM sees it: `mcp__notes` + `lookup` → `mcp__notes__lookup`."""
    return f"{namespace}{NAMESPACE_SEPARATOR}{name}"


def _tools(
    given: Sequence[schema.Tool],
) -> tuple[tuple[Tool, ...], set[str], list[str], dict[str, tuple[str, str]]]:
    tools: list[Tool] = []
    custom: set[str] = set()
    dropped: list[str] = []
    namespaced: dict[str, tuple[str, str]] = {}
    for i, t in enumerate(given):
        if t.type == "function":
            tools.append(_function(t, _name(t, i)))
        elif t.type == "custom":
            name = _name(t, i)
            custom.add(name)
            tools.append(Tool(name, t.description or "", _custom_parameters(t.format)))
        elif t.type == "namespace":
            # Codex's MCP servers (and its sub-agent tools): functions grouped under a name. GLM gets
            # each as one function of a unique flat name; its calls go back as the name and namespace.
            namespace = _name(t, i)
            for j, member in enumerate((t.model_extra or {}).get("tools") or ()):
                inner = schema.Tool.model_validate(member)
                if inner.type != "function" or not inner.name:
                    dropped.append(f"{namespace}.{inner.type}:{inner.name or j}")
                    continue
                flat = flat_name(namespace, inner.name)
                namespaced[flat] = (namespace, inner.name)
                tools.append(_function(inner, flat))
        elif t.type not in _ACCEPTED:
            dropped.append(f"{t.type}:{t.name}" if t.name else t.type)
    return tuple(tools), custom, dropped, namespaced


def _function(tool: schema.Tool, name: str) -> Tool:
    parameters = tool.parameters or {"type": "object", "properties": {}}
    return Tool(name, tool.description or "", parameters, strict=bool(tool.strict))


def _name(tool: schema.Tool, index: int) -> str:
    if not tool.name:
        raise InvalidRequest(f"a {tool.type} tool needs a name", param=f"tools[{index}].name")
    return tool.name


def _custom_parameters(fmt: dict[str, Any] | None) -> dict[str, Any]:
    """A freeform tool as GLM sees it: one string argument, described by the tool's input format."""
    described = "The tool's whole input, as raw text."
    if fmt and fmt.get("type") == "grammar" and fmt.get("definition"):
        described += f" It must match this {fmt.get('syntax', '')} grammar:\n{fmt['definition']}"
    return {
        "type": "object",
        "properties": {CUSTOM_ARGUMENT: {"type": "string", "description": described}},
        "required": [CUSTOM_ARGUMENT],
    }


def _tool_choice(
    choice: str | schema.ToolChoice | None, tools: tuple[Tool, ...]
) -> tuple[tuple[Tool, ...], ToolChoice]:
    if choice is None or isinstance(choice, str):
        return tools, choice or "auto"  # type: ignore[return-value]
    if choice.type in ("function", "custom"):
        if not choice.name:
            raise InvalidRequest("a named tool_choice needs the tool's name", param="tool_choice.name")
        return tools, NamedTool(choice.name)
    if choice.type == "allowed_tools":
        allowed = {t.name for t in choice.tools or () if t.name}
        return tuple(t for t in tools if t.name in allowed), choice.mode or "auto"
    raise InvalidRequest(
        f"tool_choice {choice.type!r} names a built-in tool this server cannot run", param="tool_choice"
    )


def _text_format(text: schema.Text | None) -> JsonAnswer | None:
    fmt = text.format if text else None
    if fmt is None or fmt.type == "text":
        return None
    if fmt.type == "json_object":
        return JsonAnswer()
    if fmt.schema_ is None:
        raise InvalidRequest("a json_schema format needs its schema", param="text.format.schema")
    return JsonAnswer(fmt.schema_)


def _thinking(reasoning: schema.Reasoning | None) -> Thinking:
    if reasoning is None or reasoning.effort is None:
        return Thinking()
    if reasoning.effort in ("none", "minimal"):
        return Thinking(enabled=False)
    return Thinking(enabled=True, effort=_EFFORT[reasoning.effort])


# -- input items ---------------------------------------------------------------------------------------


@dataclass
class _Turn:
    """The assistant turn being gathered from consecutive reasoning, message and call items."""

    reasoning: list[str] = field(default_factory=list)
    text: list[str] = field(default_factory=list)
    calls: list[HistoryToolCall] = field(default_factory=list)

    def message(self) -> Message | None:
        if not (self.reasoning or self.text or self.calls):
            return None
        return Message(
            "assistant",
            "".join(self.text),
            reasoning="\n\n".join(self.reasoning) or None,
            tool_calls=tuple(self.calls),
        )


def messages(given: Sequence[schema.Item], seal: Seal, earlier: int) -> list[Message]:
    """The items as GLM's turns; `earlier` of them came from a stored response (input[] indexes the rest)."""
    out: list[Message] = []
    turn = _Turn()
    unverified = 0

    def flush() -> None:
        nonlocal turn
        if (message := turn.message()) is not None:
            out.append(message)
        turn = _Turn()

    for i, item in enumerate(given):
        where = f"input[{i - earlier}]"
        if isinstance(item, schema.MessageItem):
            if item.role == "assistant":
                if turn.text or turn.calls:
                    flush()
                turn.text.append(_text(item.content, where))
            else:
                flush()
                content = _content(item.content, where)
                out.append(Message("user" if item.role == "user" else "system", content))
        elif isinstance(item, schema.ReasoningItem):
            if turn.text or turn.calls:
                flush()
            thought, failed = _reasoning(item, seal)
            unverified += failed
            if thought is not None:
                turn.reasoning.append(thought)
        elif isinstance(item, schema.FunctionCallItem):
            name = flat_name(item.namespace, item.name) if item.namespace else item.name
            turn.calls.append(HistoryToolCall.from_text(item.call_id, name, item.arguments))
        elif isinstance(item, schema.CustomToolCallItem):
            turn.calls.append(HistoryToolCall(item.call_id, item.name, {CUSTOM_ARGUMENT: item.input}))
        elif isinstance(item, schema.ToolOutputItem):
            flush()
            out.append(Message("tool", _text(item.output, f"{where}.output"), tool_call_id=item.call_id))
        elif isinstance(item, schema.CompactionItem):
            flush()
            summary = seal.open(item.encrypted_content, "compaction")
            if summary is None:
                raise InvalidRequest(
                    "this compaction item was not made by this server, or its secret has changed since "
                    "(set --responses-secret to keep one across restarts); compact the history again",
                    param=f"{where}.encrypted_content",
                )
            out.append(compact.context_message(summary))
        elif isinstance(item, schema.ItemReference):
            raise InvalidRequest("an item_reference the route did not resolve", param=f"{where}.id")
        else:
            log.debug("input item of type %r left out (nothing of this server's)", item.type)
    flush()
    if unverified:  # once per request: a long history can carry hundreds
        log.warning(
            "%d reasoning item(s) had an encrypted_content this server did not sign (another server's, "
            "or signed under a key since changed); the text they show was used instead",
            unverified,
        )
    return out


def _content(content: str | list[schema.Part], where: str) -> Content:
    """A user or system message's content; its images (input_image) stay in place for a vision model."""
    if isinstance(content, str):
        return content
    parts: list[str | ImagePart] = []
    for j, part in enumerate(content):
        if isinstance(part, schema.TextPart):
            parts.append(part.text)
        elif isinstance(part, schema.RefusalPart):
            parts.append(part.refusal)
        elif isinstance(part, schema.ImagePart):
            if part.image_url is None:
                raise InvalidRequest(
                    "input_image needs an image_url (a data: URL or an http(s) URL); file_id is not "
                    "supported (this server has no Files API)",
                    param=f"{where}.content[{j}]",
                )
            parts.append(ImagePart(part.image_url))
        else:
            raise InvalidRequest(f"{part.type} is not supported", param=f"{where}.content[{j}]")
    if not any(isinstance(p, ImagePart) for p in parts):
        return "".join(p for p in parts if isinstance(p, str))
    return tuple(parts)


def _text(content: str | list[schema.Part], where: str) -> str:
    """An assistant message's or a tool output's text: images are taken only in user turns."""
    got = _content(content, where)
    if isinstance(got, str):
        return got
    if any(isinstance(p, ImagePart) for p in got):
        raise InvalidRequest("input_image is taken in user messages only", param=f"{where}.content")
    return "".join(p for p in got if isinstance(p, str))


def _reasoning(item: schema.ReasoningItem, seal: Seal) -> tuple[str | None, bool]:
    """The reasoning an item carries, and whether a seal on it failed to verify. Its sealed text when it
    has one that verifies; else the reasoning_text it shows, else its summary (another provider's blob, or
    ours signed under a key since changed, still comes with what the client was shown)."""
    sealed = seal.open(item.encrypted_content) if item.encrypted_content is not None else None
    if sealed is not None:
        return sealed, False
    shown = "".join(p.text for p in item.content or () if p.type == "reasoning_text")
    summary = "\n\n".join(p.text for p in item.summary if p.text)
    return (shown or summary or None), item.encrypted_content is not None
