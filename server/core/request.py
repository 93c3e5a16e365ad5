"""The wire-neutral request: what every wire format converts into and every backend consumes."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from .errors import InvalidRequest

Role = Literal["system", "user", "assistant", "tool"]


@dataclass(frozen=True, slots=True)
class ImagePart:
    """An image in a user message: a data: URL (the bytes inline) or an http(s) URL to fetch.

    Every wire's image (OpenAI image_url, Anthropic image, Responses input_image) becomes one; a backend
    hands it to a vision model or refuses it clearly.
    """

    url: str

    @classmethod
    def inline(cls, media_type: str, data: str) -> ImagePart:
        return cls(f"data:{media_type};base64,{data}")


Content = str | tuple[str | ImagePart, ...]


@dataclass(frozen=True, slots=True)
class HistoryToolCall:
    """A tool call made by an earlier assistant turn; arguments decoded to a mapping (what a template
    renders). `text` keeps the arguments as the client sent them where that was not one JSON object."""

    id: str
    name: str
    arguments: Mapping[str, Any]
    text: str | None = None

    @classmethod
    def from_text(cls, call_id: str, name: str, text: str) -> HistoryToolCall:
        """A call whose arguments came as JSON text. The model wrote it, so it is never refused: text a
        client mangled (two objects back to back, an object cut off) keeps what parses of it for the
        prompt, and the text itself for wires that take text."""
        if not text.strip():
            return cls(call_id, name, {})
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            return cls(call_id, name, _salvaged(text), text)
        return cls(call_id, name, value) if isinstance(value, dict) else cls(call_id, name, {}, text)

    def arguments_json(self) -> str:
        """The arguments as JSON text: as sent where they were not one object, else encoded."""
        return self.text if self.text is not None else json.dumps(dict(self.arguments), ensure_ascii=False)


def _salvaged(text: str) -> dict[str, Any]:
    """What parses of broken arguments: objects back to back merged in order; of an object cut off, its
    complete members; else nothing."""
    decoder = json.JSONDecoder()
    merged: dict[str, Any] = {}
    at = 0
    try:
        while at < len(text):
            at = len(text) - len(text[at:].lstrip())
            if at == len(text):
                return merged
            value, at = decoder.raw_decode(text, at)
            if isinstance(value, dict):
                merged.update(value)
    except json.JSONDecodeError:
        pass
    # A cut-off object: the longest prefix ending before a member separator that closes as an object.
    rest = text[at:]
    for cut in sorted((i for i, ch in enumerate(rest) if ch == ","), reverse=True):
        try:
            value = json.loads(rest[:cut] + "}")
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict):
            merged.update(value)
            break
    return merged


@dataclass(frozen=True, slots=True)
class Message:
    role: Role
    content: Content = ""
    reasoning: str | None = None  # an assistant turn's thinking, kept for interleaved thinking
    tool_calls: tuple[HistoryToolCall, ...] = ()
    tool_call_id: str | None = None


@dataclass(frozen=True, slots=True)
class Tool:
    name: str
    description: str = ""
    parameters: Mapping[str, Any] = field(default_factory=dict)
    strict: bool = False  # calls to it must match `parameters` (enforced where the backend can)

    def as_openai(self) -> dict[str, Any]:
        """The Chat Completions shape, which GLM's chat template and the parser both read."""
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": dict(self.parameters),
            },
        }


@dataclass(frozen=True, slots=True)
class Sampling:
    """Generation limits and sampling knobs; None means the backend's default."""

    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    min_p: float | None = None
    seed: int | None = None
    stop: tuple[str, ...] = ()
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    repetition_penalty: float | None = None
    min_tokens: int | None = None
    ignore_eos: bool = False
    logprobs: bool = False
    top_logprobs: int = 0


@dataclass(frozen=True, slots=True)
class SamplingValues:
    """The knobs a response says it was sampled with: the request's where it set them, else a backend's
    defaults (the model's generation_config, a hosted API's documented ones). Responses echo them."""

    temperature: float = 1.0
    top_p: float = 1.0
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0

    def under(self, s: Sampling) -> SamplingValues:
        """These as defaults, overridden by what `s` sets."""
        return SamplingValues(
            self.temperature if s.temperature is None else s.temperature,
            self.top_p if s.top_p is None else s.top_p,
            self.presence_penalty if s.presence_penalty is None else s.presence_penalty,
            self.frequency_penalty if s.frequency_penalty is None else s.frequency_penalty,
        )


# OpenAI's and vLLM's own defaults: what applies where nothing else is known.
NEUTRAL_SAMPLING = SamplingValues()


@dataclass(frozen=True, slots=True)
class Thinking:
    """GLM's thinking controls, passed to the chat template. None leaves the template's default."""

    enabled: bool | None = None
    clear: bool | None = None  # clear_thinking: drop reasoning of turns before the last user message
    effort: str | None = None  # reasoning_effort (GLM-5: "max" or "high")


@dataclass(frozen=True, slots=True)
class NamedTool:
    """tool_choice naming one tool (OpenAI's named function, Anthropic's `tool`): call exactly it."""

    name: str


# "required" is OpenAI's spelling; Anthropic's `any` means the same.
ToolChoice = Literal["auto", "none", "required"] | NamedTool


@dataclass(frozen=True, slots=True)
class JsonAnswer:
    """response_format json_object (schema None: any JSON object) or json_schema (valid for `schema`)."""

    schema: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class ChatRequest:
    model: str
    messages: tuple[Message, ...]
    tools: tuple[Tool, ...] = ()
    tool_choice: ToolChoice = "auto"
    parallel_tool_calls: bool = True
    response_format: JsonAnswer | None = None
    sampling: Sampling = Sampling()
    thinking: Thinking = Thinking()
    template_kwargs: Mapping[str, Any] = field(default_factory=dict)  # other chat_template_kwargs

    def __post_init__(self) -> None:
        # Every wire gets the same answer to a tool_choice that cannot be honoured.
        choice = self.tool_choice
        if choice == "required" and not self.tools:
            raise InvalidRequest(
                "tool_choice requires a tool call but no tools were given", param="tool_choice"
            )
        if isinstance(choice, NamedTool) and choice.name not in {t.name for t in self.tools}:
            raise InvalidRequest(
                f"tool_choice names {choice.name!r}, which is not among the given tools", param="tool_choice"
            )

    @property
    def parses_tools(self) -> bool:
        return bool(self.tools) and self.tool_choice != "none"

    @property
    def forces_call(self) -> bool:
        """The answer must be tool calls (tool_choice required, or one named tool)."""
        return self.parses_tools and self.tool_choice != "auto"


@dataclass(frozen=True, slots=True)
class CompletionRequest:
    """A raw-text completion: the prompt goes to the model as is and the output is not parsed."""

    model: str
    prompt: str | tuple[int, ...]
    sampling: Sampling = Sampling()
