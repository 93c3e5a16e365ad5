"""Prompt rendering: normalise messages, render them with the weights' own chat template, tokenise."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from ...core.errors import InvalidRequest
from ...core.request import ChatRequest, Content, ImagePart, Message
from .template import TemplateProfile, read_profile


class ChatTokenizer(Protocol):
    """The slice of a Hugging Face tokenizer that rendering needs."""

    chat_template: Any

    def apply_chat_template(self, conversation: Any, **kwargs: Any) -> Any: ...

    def encode(self, text: str, add_special_tokens: bool = ...) -> list[int]: ...


# Where the rendered prompt leaves the model's reasoning: "open" (it ends inside <think>, GLM-4.7+ with
# thinking on), "closed" (it ends with </think>: thinking off) or "optional" (GLM-4.5/4.6 with thinking
# on, where the model writes <think> itself, or not).
ReasoningState = Literal["open", "optional", "closed"]


@dataclass(frozen=True, slots=True)
class Prompt:
    text: str
    token_ids: list[int]
    reasoning: ReasoningState
    images: tuple[ImagePart, ...] = ()  # in the order the template placed them

    @property
    def starts_in_reasoning(self) -> bool:
        """Output begins as reasoning: the prompt opened <think> (GLM-4.7+). Where the model opens it
        itself or not (GLM-4.5/4.6 with thinking on), output begins as content, whose first non-blank
        text decides: a <think> there is reasoning, anything else the answer, streamed once as such."""
        return self.reasoning == "open"


def template_messages(messages: Sequence[Message], images: bool = False) -> list[dict[str, Any]]:
    """Messages as GLM's templates expect them.

    Tool-call arguments are mappings (the official templates call `.items()` on them), contents are
    never None (they would render as "None"), and an assistant turn's reasoning travels as
    `reasoning_content` so the template can keep it for interleaved thinking. With `images` (a vision
    model), content holding images is a list of text and {"type": "image"} parts, which the V templates
    render as their image placeholder; without, an image is refused.
    """
    out: list[dict[str, Any]] = []
    for msg in messages:
        item: dict[str, Any] = {"role": msg.role, "content": _content(msg.content, images)}
        if msg.role == "assistant":
            if msg.reasoning:
                item["reasoning_content"] = msg.reasoning
            if msg.tool_calls:
                item["tool_calls"] = [
                    {
                        "id": c.id,
                        "type": "function",
                        "function": {"name": c.name, "arguments": dict(c.arguments)},
                    }
                    for c in msg.tool_calls
                ]
        elif msg.role == "tool" and msg.tool_call_id:
            item["tool_call_id"] = msg.tool_call_id
        out.append(item)
    return out


def _content(content: Content, images: bool) -> str | list[dict[str, str]]:
    if isinstance(content, str):
        return content
    if not any(isinstance(part, ImagePart) for part in content):
        return "".join(part for part in content if isinstance(part, str))
    if not images:
        raise InvalidRequest(
            "this model reads text only; send images to a vision model (GLM-4.5V, GLM-4.6V, GLM-5.3-Flash)",
            param="messages",
        )
    return [{"type": "text", "text": p} if isinstance(p, str) else {"type": "image"} for p in content]


def prompt_images(messages: Sequence[Message]) -> tuple[ImagePart, ...]:
    return tuple(
        p for m in messages if not isinstance(m.content, str) for p in m.content if isinstance(p, ImagePart)
    )


def template_kwargs(req: ChatRequest, default_thinking: bool) -> dict[str, Any]:
    kwargs: dict[str, Any] = dict(req.template_kwargs)
    enabled = req.thinking.enabled
    kwargs["enable_thinking"] = default_thinking if enabled is None else enabled
    if req.thinking.clear is not None:
        kwargs["clear_thinking"] = req.thinking.clear
    if req.thinking.effort is not None:
        kwargs["reasoning_effort"] = req.thinking.effort
    return kwargs


class PromptRenderer:
    """Renders chat requests with a tokenizer's chat template (vLLM's, or any HF tokenizer)."""

    def __init__(self, tokenizer: ChatTokenizer, default_thinking: bool = True, images: bool = False) -> None:
        if not tokenizer.chat_template:
            raise ValueError("the tokenizer has no chat template; GLM weights ship one")
        self._tokenizer = tokenizer
        self._default_thinking = default_thinking
        self._images = images

    def render_text(self, req: ChatRequest) -> str:
        tools = [t.as_openai() for t in req.tools] if req.tools and req.tool_choice != "none" else None
        try:
            text = self._tokenizer.apply_chat_template(
                template_messages(req.messages, self._images),
                tools=tools,
                add_generation_prompt=True,
                tokenize=False,
                **template_kwargs(req, self._default_thinking),
            )
        except InvalidRequest:
            raise
        except Exception as exc:  # jinja raises TemplateError and friends on malformed histories
            raise InvalidRequest(f"the chat template could not render these messages: {exc}") from exc
        return str(text)

    def render(self, req: ChatRequest) -> Prompt:
        text = self.render_text(req)
        # The template writes [gMASK]<sop> itself, so no BOS is added again.
        ids = self._tokenizer.encode(text, add_special_tokens=False)
        tail = text.rstrip()
        state: ReasoningState = (
            "open" if tail.endswith("<think>") else "closed" if tail.endswith("</think>") else "optional"
        )
        return Prompt(text=text, token_ids=ids, reasoning=state, images=prompt_images(req.messages))


def profile(tokenizer: ChatTokenizer, architecture: str | None = None) -> TemplateProfile:
    """The tokenizer's chat template read for layout, thinking and images (UnknownTemplate if not GLM's);
    `architecture` is the model's (config.json), when known."""
    template = tokenizer.chat_template
    if not isinstance(template, str):
        raise ValueError("the tokenizer has no chat template; GLM weights ship one")
    probe = [{"role": "user", "content": "hi"}]
    text = tokenizer.apply_chat_template(
        probe, add_generation_prompt=True, tokenize=False, enable_thinking=True
    )
    return read_profile(template, str(text), architecture)
