"""The tag scanner: partial-tag holdback and its release."""

from __future__ import annotations

from parsers.scanner import Scanner


class _Record:
    def __init__(self) -> None:
        self.items: list[tuple[str, str]] = []

    def on_text(self, text: str) -> None:
        self.items.append(("text", text))

    def on_tag(self, tag: str) -> None:
        self.items.append(("tag", tag))


def _scan(*pieces: str) -> list[tuple[str, str]]:
    scanner, sink = Scanner(), _Record()
    for piece in pieces:
        scanner.feed(piece, sink)
    scanner.flush(sink)
    return sink.items


def test_partial_tag_is_held_then_completed() -> None:
    assert _scan("abc</arg_v", "alue>def") == [("text", "abc"), ("tag", "</arg_value>"), ("text", "def")]


def test_disproved_prefix_is_released_as_text() -> None:
    assert _scan("a </arg_v", "x") == [("text", "a "), ("text", "</arg_vx")]


def test_lt_that_cannot_start_a_tag_is_not_held() -> None:
    scanner, sink = Scanner(), _Record()
    scanner.feed("a <= b", sink)
    assert sink.items == [("text", "a <= b")]


def test_value_ending_in_lt_before_close() -> None:
    assert _scan(".<", "</arg_value>") == [("text", "."), ("text", "<"), ("tag", "</arg_value>")]


def test_held_prefix_flushed_at_end() -> None:
    assert _scan("end <thi") == [("text", "end "), ("text", "<thi")]


def test_stop_tags_are_tags() -> None:
    assert _scan("x<|observation|>") == [("text", "x"), ("tag", "<|observation|>")]
