"""The parser's output vocabulary: five frozen event types that every backend and renderer share."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ReasoningDelta:
    """A piece of the model's reasoning (the text inside `<think>…</think>`)."""

    text: str


@dataclass(frozen=True, slots=True)
class TextDelta:
    """A piece of the visible answer."""

    text: str


@dataclass(frozen=True, slots=True)
class ToolCallStart:
    """A tool call begins; `name` is complete and final (never sent in pieces)."""

    index: int
    name: str


@dataclass(frozen=True, slots=True)
class ToolArgsDelta:
    """A fragment of a call's arguments; the fragments of one call concatenate to a JSON object."""

    index: int
    json: str


@dataclass(frozen=True, slots=True)
class ToolCallEnd:
    """The call is complete. A call that never gets its end was cut off and is not a call."""

    index: int


ParserEvent = ReasoningDelta | TextDelta | ToolCallStart | ToolArgsDelta | ToolCallEnd
