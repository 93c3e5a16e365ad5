"""Chunkings of one raw text and the invariants every streamed event sequence must keep."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

from parsers import GlmParser, MessageBuilder, ParsedMessage, ToolArgsDelta, ToolCallEnd, ToolCallStart
from parsers.events import ParserEvent
from parsers.tags import TAGS

CHUNK_SIZES = (1, 2, 3, 5, 11, 23)
_TAG_RE = re.compile("|".join(re.escape(t) for t in sorted(TAGS, key=len, reverse=True)))


def chunkings(raw: str) -> Iterator[tuple[str, list[str]]]:
    """(label, pieces) for: whole, fixed sizes, token-like pieces, and a split inside every tag."""
    yield "whole", [raw]
    for size in CHUNK_SIZES:
        yield f"size{size}", [raw[i : i + size] for i in range(0, len(raw), size)] or [""]
    # Token-like: tags whole (as an engine emits them), text in pieces of four.
    pieces: list[str] = []
    pos = 0
    for m in _TAG_RE.finditer(raw):
        pieces += [raw[i : min(i + 4, m.start())] for i in range(pos, m.start(), 4)]
        pieces.append(m.group())
        pos = m.end()
    pieces += [raw[i : i + 4] for i in range(pos, len(raw), 4)]
    yield "tokens", pieces
    for m in _TAG_RE.finditer(raw):
        for k in range(m.start() + 1, m.end()):
            yield f"split@{k}", [raw[:k], raw[k:]]


def stream(parser: GlmParser, pieces: list[str], finish_reason: str) -> list[ParserEvent]:
    events: list[ParserEvent] = []
    for piece in pieces:
        events += parser.feed(piece)
    return events + parser.finish(finish_reason)


def fold(events: list[ParserEvent]) -> ParsedMessage:
    builder = MessageBuilder()
    for event in events:
        builder.add(event)
    return builder.build()


def check_invariants(events: list[ParserEvent]) -> None:
    """Names sent once and whole, fragments only inside their call, ended calls hold a JSON object."""
    started: dict[int, str] = {}
    ended: set[int] = set()
    args: dict[int, str] = {}
    for event in events:
        if isinstance(event, ToolCallStart):
            assert event.index == len(started), f"indexes in order: {event}"
            assert event.name and not re.search(r"[\s<>]", event.name), f"clean name: {event.name!r}"
            started[event.index] = event.name
            args[event.index] = ""
        elif isinstance(event, ToolArgsDelta):
            assert event.index in started and event.index not in ended, event
            assert event.json, "no empty fragments"
            args[event.index] += event.json
        elif isinstance(event, ToolCallEnd):
            assert event.index in started and event.index not in ended, event
            ended.add(event.index)
            assert isinstance(json.loads(args[event.index]), dict)
        elif event.text == "":
            raise AssertionError(f"empty text event {event}")
