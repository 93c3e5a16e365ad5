"""Incremental tag scanner: splits streamed text into plain text and GLM tags, holding back partial tags."""

from __future__ import annotations

from typing import Protocol

from .tags import MAX_TAG_LEN, TAG_PREFIXES, TAGS


class Sink(Protocol):
    """What the scanner feeds: plain text and whole tags, in order."""

    def on_text(self, text: str) -> None: ...

    def on_tag(self, tag: str) -> None: ...


class Scanner:
    """Finds GLM tags in text that arrives in arbitrary pieces.

    Only a suffix that could still grow into a tag ("<", "</arg_v", …) is held back; anything else
    is passed on at once, so a long argument value streams as it arrives. A `<` that cannot start a
    tag ("a <= b", ".<</arg_value>") is text.
    """

    __slots__ = ("_held",)

    def __init__(self) -> None:
        self._held = ""

    def feed(self, text: str, sink: Sink) -> None:
        if self._held:
            text = self._held + text
            self._held = ""
        find = text.find
        emitted = 0  # text[:emitted] has been passed on
        pos = 0  # where to look for the next "<"
        while (lt := find("<", pos)) >= 0:
            gt = find(">", lt + 1, lt + MAX_TAG_LEN)
            if gt >= 0:
                candidate = text[lt : gt + 1]
                if candidate in TAGS:
                    if lt > emitted:
                        sink.on_text(text[emitted:lt])
                    sink.on_tag(candidate)
                    emitted = pos = gt + 1
                    continue
            elif text[lt:] in TAG_PREFIXES:
                if lt > emitted:
                    sink.on_text(text[emitted:lt])
                self._held = text[lt:]
                return
            pos = lt + 1
        if emitted < len(text):
            sink.on_text(text[emitted:] if emitted else text)

    def flush(self, sink: Sink) -> None:
        """End of input: a held-back partial tag was text after all."""
        if self._held:
            held, self._held = self._held, ""
            sink.on_text(held)
