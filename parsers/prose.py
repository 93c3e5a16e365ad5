"""Prose: reasoning or content text, trimmed at its edges while it streams."""

from __future__ import annotations

from collections.abc import Callable

from .events import ParserEvent


class Prose:
    """Reasoning or content text, trimmed at its edges while streaming.

    Leading whitespace is dropped and trailing whitespace is held back until more text follows, so
    the streamed pieces concatenate to the stripped text. Blocks (several <think> blocks) are joined
    by `separator`.
    """

    __slots__ = ("_any", "_event", "_in_block", "_pending", "_separator")

    def __init__(self, event: Callable[[str], ParserEvent], separator: str) -> None:
        self._event = event
        self._separator = separator
        self._any = False
        self._in_block = False
        self._pending = ""

    def write(self, text: str, out: list[ParserEvent]) -> str:
        """Emit what can be emitted of `text`; returns it (for callers that keep a copy)."""
        if not self._in_block:
            text = text.lstrip()
            if not text:
                return ""
            body = text.rstrip()
            emit = self._separator + body if self._any else body
            self._in_block = self._any = True
        else:
            body = text.rstrip()
            if not body:
                self._pending += text
                return ""
            emit = self._pending + body if self._pending else body
        self._pending = text[len(body) :]
        out.append(self._event(emit))
        return emit

    def end_block(self) -> None:
        self._in_block = False
        self._pending = ""
