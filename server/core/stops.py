"""AnswerStops: a request's stop strings applied to the answer alone, never inside the reasoning.

An engine's own stop strings see the raw output: a stop string that occurs in the thinking would end
the request there (and the cut reasoning would come back as the answer). So the backends take the stop
strings out of what they send the engine (or a remote server) and apply them here, to the answer's text
as the parser emits it: the text before the stop goes out, the rest is never sent, and the backend ends
generation with finish "stop" naming the stop string. Text that might be the start of a stop string is
held back until the next piece tells.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from parsers import TextDelta

from .events import LogprobsDelta, StreamEvent


class AnswerStops:
    """Feed it the parser's events in order; `hit` is the stop string once one has matched, after
    which the backend stops generating (and feeds nothing more)."""

    def __init__(self, stops: tuple[str, ...]) -> None:
        self._stops = tuple(s for s in stops if s)
        self._held = ""
        self.hit: str | None = None

    def feed(self, event: StreamEvent) -> list[StreamEvent]:
        if self.hit is not None:
            return []
        if not self._stops:
            return [event]
        if isinstance(event, LogprobsDelta):
            return [event]
        if not isinstance(event, TextDelta):
            return [*self.flush(), event]  # the answer's text ended (a call, or more reasoning)
        text = self._held + event.text
        found = [(i, s) for s in self._stops if (i := text.find(s)) >= 0]
        if found:
            at, self.hit = min(found)
            self._held = ""
            return [TextDelta(text[:at])] if at else []
        keep = self._undecided(text)
        self._held = text[len(text) - keep :]
        sent = text[: len(text) - keep]
        return [TextDelta(sent)] if sent else []

    def through(self, events: Iterable[StreamEvent]) -> Iterator[StreamEvent]:
        """`events` fed in turn: what goes out of them."""
        for event in events:
            yield from self.feed(event)

    def flush(self) -> list[StreamEvent]:
        """The text held back, at the end of the answer (it was no stop string after all)."""
        held, self._held = self._held, ""
        return [TextDelta(held)] if held and self.hit is None else []

    def _undecided(self, text: str) -> int:
        """The length of the longest end of `text` that begins some stop string."""
        longest = 0
        for stop in self._stops:
            for n in range(min(len(stop) - 1, len(text)), longest, -1):
                if stop.startswith(text[-n:]):
                    longest = n
                    break
        return longest
