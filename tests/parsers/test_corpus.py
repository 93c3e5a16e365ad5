"""Replays every corpus case whole, per character, at several chunk sizes and split inside every tag."""

from __future__ import annotations

import json

import pytest

from parsers import GlmParser, parse

from .cases import CASES, Case
from .replay import check_invariants, chunkings, fold, stream


def _parse(case: Case):  # type: ignore[no-untyped-def]
    return parse(
        case.raw,
        layout=case.layout,
        tools=case.tools,  # type: ignore[arg-type]
        starts_in_reasoning=case.prompt_ends_with_think,
        finish_reason=case.finish_reason,
    )


def test_corpus_is_large_enough() -> None:
    assert len(CASES) >= 60
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_parse_gives_expected_message(case: Case) -> None:
    msg = _parse(case)
    assert msg.reasoning == case.reasoning
    assert msg.content == case.content
    assert [c.name for c in msg.tool_calls] == [name for name, _ in case.tool_calls]
    for call, (_, expected) in zip(msg.tool_calls, case.tool_calls, strict=True):
        assert json.loads(call.arguments) == expected
        # One serialisation: what was streamed is exactly json.dumps of the typed arguments.
        assert call.arguments == json.dumps(expected, ensure_ascii=False)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_every_chunking_folds_to_parse(case: Case) -> None:
    whole = _parse(case)
    for label, pieces in chunkings(case.raw):
        assert "".join(pieces) == case.raw
        parser = GlmParser(case.layout, case.tools, case.prompt_ends_with_think)  # type: ignore[arg-type]
        events = stream(parser, pieces, case.finish_reason)
        check_invariants(events)
        assert fold(events) == whole, label
