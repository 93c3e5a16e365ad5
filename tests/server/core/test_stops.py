"""AnswerStops: stop strings on the answer's text, at every split of it into pieces."""

from __future__ import annotations

import random

import pytest

from parsers import ReasoningDelta, TextDelta, ToolCallStart
from server.core.events import StreamEvent
from server.core.stops import AnswerStops


def run(pieces: list[StreamEvent], stops: tuple[str, ...]) -> tuple[str, str, str | None]:
    s = AnswerStops(stops)
    out = [e for p in pieces for e in s.feed(p)] + s.flush()
    text = "".join(e.text for e in out if isinstance(e, TextDelta))
    thought = "".join(e.text for e in out if isinstance(e, ReasoningDelta))
    return thought, text, s.hit


@pytest.mark.parametrize(
    ("answer", "stops", "text", "hit"),
    [
        ("one two three", ("two",), "one ", "two"),
        ("one two three", ("nothing",), "one two three", None),
        ("abcab", ("abd",), "abcab", None),  # a held prefix that never completes goes out at the end
        ("x END y END", ("END", "y"), "x ", "END"),  # the earliest match wins
        ("stop at the very end: ZZ", ("ZZ",), "stop at the very end: ", "ZZ"),
        ("", ("a",), "", None),
    ],
)
def test_every_split(answer: str, stops: tuple[str, ...], text: str, hit: str | None) -> None:
    rng = random.Random(7)
    for _ in range(50):
        cuts = (
            sorted(rng.sample(range(1, len(answer)), min(len(answer) - 1, rng.randint(0, 5))))
            if len(answer) > 1
            else []
        )
        parts = [answer[a:b] for a, b in zip([0, *cuts], [*cuts, len(answer)], strict=True)]
        events: list[StreamEvent] = [ReasoningDelta("two and ZZ and END in thought"), *map(TextDelta, parts)]
        assert run(events, stops) == ("two and ZZ and END in thought", text, hit)


def test_held_text_goes_out_before_a_call() -> None:
    s = AnswerStops(("STOP",))
    out = [*s.feed(TextDelta("Calling ST")), *s.feed(ToolCallStart(0, "f"))]
    assert out == [TextDelta("Calling "), TextDelta("ST"), ToolCallStart(0, "f")]
    assert s.hit is None


def test_nothing_after_a_hit() -> None:
    s = AnswerStops(("X",))
    assert s.feed(TextDelta("aXb")) == [TextDelta("a")]
    assert s.feed(TextDelta("more")) == [] and s.flush() == [] and s.hit == "X"
