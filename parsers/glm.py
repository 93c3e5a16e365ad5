"""GlmParser, the streaming GLM output parser, and parse(), its whole-text fold."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .events import ParserEvent
from .machine import Machine, State
from .message import MessageBuilder, ParsedMessage
from .scanner import Scanner
from .tags import LayoutName, layout_of


class GlmParser:
    """Turns raw GLM output, fed in any pieces, into reasoning, text and tool-call events.

        text deltas ─▶ Scanner (tags vs text, partial-tag holdback) ─▶ Machine (states) ─▶ events

    Usage::

        p = GlmParser(layout="glm47", tools=request_tools, starts_in_reasoning=True)
        for delta in engine_deltas:
            events = p.feed(delta)
        events = p.finish("stop")   # or "length" when max_tokens cut the output

    `layout` is "glm45" (GLM-4.5/4.5-Air/4.6) or "glm47" (GLM-4.7/4.7-Flash/5/5.1); both layouts'
    whitespace is accepted either way. `tools` is the request's tool list (OpenAI, Responses or
    Anthropic shape); with None, tool markup is plain text. `starts_in_reasoning` says the rendered
    prompt ended inside an open `<think>` (GLM-4.7+ with thinking on), so output begins as reasoning.
    """

    __slots__ = ("_machine", "_scanner", "layout")

    def __init__(
        self,
        layout: LayoutName = "glm47",
        tools: Sequence[Mapping[str, Any]] | None = None,
        starts_in_reasoning: bool = False,
    ) -> None:
        layout_of(layout)  # validates the name
        self.layout = layout
        self._scanner = Scanner()
        self._machine = Machine(tools, starts_in_reasoning)

    def feed(self, text: str) -> list[ParserEvent]:
        """Parse the next piece of output; returns the events it completes (often none or one)."""
        machine = self._machine
        if machine.state is State.DONE:
            return []
        self._scanner.feed(text, machine)
        return machine.take()

    def finish(self, finish_reason: str = "stop") -> list[ParserEvent]:
        """End of generation. `finish_reason` "stop" is a normal end; "length" or "abort" a cut-off one.

        A call cut off mid-way gets no ToolCallEnd. After a normal stop a call missing only its
        `</tool_call>` is completed, and an answer left inside the prompt-opened `<think>` is also
        sent as content.
        """
        machine = self._machine
        if machine.state is not State.DONE:
            self._scanner.flush(machine)
            machine.end(normal=finish_reason == "stop")
        return machine.take()

    @property
    def in_reasoning(self) -> bool:
        """True while the output is inside reasoning (used to count reasoning tokens)."""
        return self._machine.state is State.REASONING

    @property
    def done(self) -> bool:
        """True once a stop marker (`<|user|>`, `<|observation|>`, …) or finish() ended the output."""
        return self._machine.state is State.DONE


def parse(
    text: str,
    layout: LayoutName = "glm47",
    tools: Sequence[Mapping[str, Any]] | None = None,
    starts_in_reasoning: bool = False,
    finish_reason: str = "stop",
) -> ParsedMessage:
    """Parse a whole response: exactly the fold of GlmParser's events for any chunking of `text`."""
    parser = GlmParser(layout, tools, starts_in_reasoning)
    builder = MessageBuilder()
    for event in parser.feed(text) + parser.finish(finish_reason):
        builder.add(event)
    return builder.build()
