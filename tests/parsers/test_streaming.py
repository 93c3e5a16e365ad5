"""Streaming behaviour the corpus cannot show: values stream as they arrive, names arrive whole."""

from __future__ import annotations

import json
import random

import pytest

from parsers import (
    GlmParser,
    ReasoningDelta,
    TextDelta,
    ToolArgsDelta,
    ToolCallStart,
    parse,
    render_tool_call,
)
from parsers.tags import MAX_TAG_LEN

from .cases import ALL, WRITE
from .replay import check_invariants, fold, stream


def test_long_string_value_streams_as_it_arrives() -> None:
    body = "".join(f"    line {i} = '<value>' & \"q\"\n" for i in range(1700))  # ~50 KB
    assert len(body) > 50_000
    parser = GlmParser("glm47", [WRITE])
    head = parser.feed("<tool_call>write_file<arg_key>path</arg_key><arg_value>big.py</arg_value>")
    head += parser.feed("<arg_key>content</arg_key><arg_value>")
    prefix = "".join(e.json for e in head if isinstance(e, ToolArgsDelta))
    sent = ""
    for i in range(0, len(body), 4):
        for event in parser.feed(body[i : i + 4]):
            assert isinstance(event, ToolArgsDelta)
            sent += event.json
        # Everything fed so far is out, bar at most a partial tag's worth of characters.
        decoded = json.loads(sent.split('"content": ', 1)[1] + '"')
        assert len(body[: i + 4]) - len(decoded) <= MAX_TAG_LEN
    for event in parser.feed("</arg_value></tool_call>"):
        if isinstance(event, ToolArgsDelta):
            sent += event.json
    assert json.loads(prefix + sent) == {"path": "big.py", "content": body}


def test_name_is_sent_once_and_whole_before_arguments() -> None:
    parser = GlmParser("glm45", ALL)
    events = []
    for ch in "<tool_call>get_weather\n<arg_key>city</arg_key>\n<arg_value>Paris</arg_value>\n</tool_call>":
        events += parser.feed(ch)
    starts = [e for e in events if isinstance(e, ToolCallStart)]
    assert starts == [ToolCallStart(0, "get_weather")]
    assert events.index(starts[0]) < min(i for i, e in enumerate(events) if isinstance(e, ToolArgsDelta))


def test_reasoning_and_text_stream_without_trailing_whitespace_holdup() -> None:
    parser = GlmParser("glm47", None, starts_in_reasoning=True)
    assert parser.feed("Thinking") == [ReasoningDelta("Thinking")]
    assert parser.feed(" hard\n") == [ReasoningDelta(" hard")]  # the newline waits for what follows
    assert parser.feed("</think>\nAnswer") == [TextDelta("Answer")]
    assert parser.finish() == []


def test_stop_marker_ends_output() -> None:
    parser = GlmParser("glm47", None)
    assert parser.feed("Bye<|user|>") == [TextDelta("Bye")]
    assert parser.done
    assert parser.feed("more text") == []


def test_unknown_generation_is_rejected() -> None:
    with pytest.raises(ValueError, match="glm45"):
        GlmParser("glm99")  # type: ignore[arg-type]


_ALPHABET = [
    "a",
    "Z",
    "0",
    "7",
    " ",
    "\n",
    "\t",
    "<",
    ">",
    "/",
    '"',
    "\\",
    "{",
    "}",
    "&",
    "中",
    "한",
    "</arg_value",
    "</arg_key>",
    "<arg_key>",
    "</tool_call>",
    "<think>",
    "true",
    "null",
    "-1e3",
]


@pytest.mark.parametrize("layout", ["glm45", "glm47"])
def test_random_arguments_round_trip(layout: str) -> None:
    """render_tool_call → parse gives back the same arguments, for random hostile values."""
    rng = random.Random(1234)
    tool = {
        "type": "function",
        "function": {
            "name": "t",
            "parameters": {
                "type": "object",
                "properties": {
                    "s": {"type": "string"},
                    "n": {"type": "number"},
                    "o": {"anyOf": [{"type": "string"}, {"type": "null"}]},
                    "b": {"type": "boolean"},
                    "a": {"type": "array"},
                },
            },
        },
    }
    for _ in range(300):
        s = "".join(rng.choice(_ALPHABET) for _ in range(rng.randint(0, 12)))
        if "</arg_value>" in s:
            continue  # GLM cannot write its own closing tag inside a value: no escaping exists
        args = {
            "s": s,
            "n": rng.choice([0, -2.5, 10**12, 1e-9]),
            "o": rng.choice([None, s + "!"]),
            "b": rng.random() < 0.5,
            "a": [s, 1, None],
        }
        raw = render_tool_call("t", args, layout)  # type: ignore[arg-type]
        whole = parse(raw, layout=layout, tools=[tool])  # type: ignore[arg-type]
        assert [json.loads(c.arguments) for c in whole.tool_calls] == [args], raw
        cut = rng.randrange(len(raw))
        events = stream(GlmParser(layout, [tool]), [raw[:cut], raw[cut:]], "stop")  # type: ignore[arg-type]
        check_invariants(events)
        assert fold(events) == whole
