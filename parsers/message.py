"""A whole parsed message, and the fold that builds one from parser events."""

from __future__ import annotations

from dataclasses import dataclass

from .events import ParserEvent, ReasoningDelta, TextDelta, ToolArgsDelta, ToolCallEnd, ToolCallStart


@dataclass(frozen=True, slots=True)
class ToolCall:
    """One complete tool call; `arguments` is JSON text of an object."""

    index: int
    name: str
    arguments: str


@dataclass(frozen=True, slots=True)
class ParsedMessage:
    """The fold of one response's events. Empty reasoning or content is None."""

    reasoning: str | None
    content: str | None
    tool_calls: tuple[ToolCall, ...]


def said_twice(reasoning: str, content: str) -> bool:
    """The answer written inside a prompt-opened <think> that never closed: a stream sent it as reasoning,
    then once more as content (the parser knows only at the end). A whole message carries it once, as the
    answer: every wire's fold drops such reasoning."""
    return bool(reasoning.strip()) and reasoning.strip() == content.strip()


class MessageBuilder:
    """Folds parser events into a ParsedMessage; a call without ToolCallEnd was cut off and is dropped."""

    __slots__ = ("_args", "_content", "_ended", "_names", "_reasoning")

    def __init__(self) -> None:
        self._reasoning: list[str] = []
        self._content: list[str] = []
        self._names: dict[int, str] = {}
        self._args: dict[int, list[str]] = {}
        self._ended: list[int] = []

    def add(self, event: ParserEvent) -> None:
        if isinstance(event, TextDelta):
            self._content.append(event.text)
        elif isinstance(event, ReasoningDelta):
            self._reasoning.append(event.text)
        elif isinstance(event, ToolArgsDelta):
            self._args[event.index].append(event.json)
        elif isinstance(event, ToolCallStart):
            self._names[event.index] = event.name
            self._args[event.index] = []
        elif isinstance(event, ToolCallEnd):
            self._ended.append(event.index)

    def build(self) -> ParsedMessage:
        calls = tuple(ToolCall(i, self._names[i], "".join(self._args[i])) for i in sorted(self._ended))
        reasoning, content = "".join(self._reasoning), "".join(self._content)
        if said_twice(reasoning, content):
            reasoning = ""
        return ParsedMessage(reasoning=reasoning or None, content=content or None, tool_calls=calls)
