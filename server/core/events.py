"""The stream every backend yields: MessageStart, the parser's events, logprobs, then MessageEnd."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from parsers import ReasoningDelta, TextDelta, ToolArgsDelta, ToolCallEnd, ToolCallStart

from .request import SamplingValues

FinishReason = Literal["stop", "length", "tool_calls", "content_filter"]


@dataclass(frozen=True, slots=True)
class MessageStart:
    request_id: str
    model: str
    prompt_tokens: int  # 0 when the backend learns it only at the end (hosted APIs)
    backend: str = ""  # which backend serves this response (a fallback pair has two)
    sampling: SamplingValues | None = None  # what it samples with; None where the backend cannot know
    thinking_note: str | None = None  # how the request's thinking was fitted to the model, if it was


@dataclass(frozen=True, slots=True)
class TopLogprob:
    token: str
    logprob: float


@dataclass(frozen=True, slots=True)
class TokenLogprob:
    token: str
    logprob: float
    top: tuple[TopLogprob, ...] = ()

    def as_openai(self) -> dict[str, Any]:
        """The token as OpenAI's chat and Responses logprobs write it (bytes: its UTF-8)."""
        return {
            "token": self.token,
            "logprob": self.logprob,
            "bytes": list(self.token.encode()),
            "top_logprobs": [
                {"token": x.token, "logprob": x.logprob, "bytes": list(x.token.encode())} for x in self.top
            ],
        }


@dataclass(frozen=True, slots=True)
class LogprobsDelta:
    """Log-probabilities of the tokens generated since the previous one."""

    tokens: tuple[TokenLogprob, ...]


@dataclass(frozen=True, slots=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    reasoning_tokens: int | None = 0  # None: not known (a wire leaves the field out where it may)

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True, slots=True)
class MessageEnd:
    finish_reason: FinishReason
    usage: Usage
    stop_sequence: str | None = None  # the caller's stop string that ended generation, if one did


StreamEvent = (
    MessageStart
    | ReasoningDelta
    | TextDelta
    | ToolCallStart
    | ToolArgsDelta
    | ToolCallEnd
    | LogprobsDelta
    | MessageEnd
)


def finish_reason(engine_reason: str | None, made_tool_calls: bool) -> FinishReason:
    """Map an engine finish reason ("stop", "length", "abort", …) onto the API's vocabulary."""
    if engine_reason == "length":
        return "length"
    return "tool_calls" if made_tool_calls else "stop"
