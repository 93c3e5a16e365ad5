"""The structural tags of server/backends/local/constraint.py, compiled by xgrammar (vLLM's grammar
engine) and matched against the texts a GLM model could write."""

from __future__ import annotations

import json
from typing import Any

import pytest

from parsers import LayoutName, parse, render_tool_call
from server.backends.local.constraint import structural_tag
from server.backends.local.prompt import ReasoningState
from server.core.request import ChatRequest, JsonAnswer, Message, NamedTool, Tool, ToolChoice

xgr = pytest.importorskip("xgrammar")

WEATHER = Tool(
    "get_weather",
    "",
    {
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "days": {"type": "integer", "minimum": 1},
            "unit": {"type": "string", "enum": ["c", "f"]},
            "hourly": {"type": "boolean"},
        },
        "required": ["city", "days"],
    },
)
SEARCH = Tool("search", "", {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]})
USER = (Message("user", "hi"),)
# Any text the grammar allows reaches the matcher character by character; the vocabulary is irrelevant.
COMPILER = xgr.GrammarCompiler(xgr.TokenizerInfo([chr(i) for i in range(32, 127)] + ["\n"]))


def accepts(
    req: ChatRequest, text: str, layout: LayoutName = "glm47", reasoning: ReasoningState = "closed"
) -> bool:
    tag = structural_tag(req, layout, reasoning)
    assert tag is not None
    matcher = xgr.GrammarMatcher(
        COMPILER.compile_structural_tag(json.dumps(tag)), terminate_without_stop_token=True
    )
    return bool(matcher.accept_string(text) and matcher.is_completed())


def call(name: str, layout: LayoutName = "glm47", **args: Any) -> str:
    return render_tool_call(name, args, layout)


def chat(choice: ToolChoice = "auto", **kwargs: Any) -> ChatRequest:
    return ChatRequest("m", USER, kwargs.pop("tools", (WEATHER, SEARCH)), choice, **kwargs)


NOW = Tool("get_time", "", {"type": "object", "properties": {}, "additionalProperties": False})


@pytest.mark.parametrize("choice", ["required", NamedTool("get_time")])
@pytest.mark.parametrize("layout", ["glm45", "glm47"])
def test_a_tool_that_takes_nothing_is_called_with_nothing(choice: ToolChoice, layout: LayoutName) -> None:
    req = chat(choice, tools=(NOW,))
    assert accepts(req, "<tool_call>get_time</tool_call>", layout)
    assert accepts(req, "<tool_call>get_time\n</tool_call>", layout)
    invented = "<tool_call>get_time<arg_key>zone</arg_key><arg_value>UTC</arg_value></tool_call>"
    assert not accepts(req, invented, layout)
    message = parse("<tool_call>get_time</tool_call>", layout, [NOW.as_openai()])
    assert message.tool_calls[0].arguments == "{}"


def test_no_constraint_unless_the_request_asks_for_one() -> None:
    assert structural_tag(chat(), "glm47", "open") is None
    assert structural_tag(chat("none"), "glm47", "open") is None


@pytest.mark.parametrize("layout", ["glm45", "glm47"])
def test_required_takes_one_or_more_schema_valid_calls_in_either_layout(layout: LayoutName) -> None:
    one = call("get_weather", layout, city="Paris", days=3)
    two = one + ("\n" if layout == "glm45" else "") + call("search", layout, q="a <b> c")
    assert accepts(chat("required"), one, layout)
    assert accepts(chat("required"), two, layout)
    # The model's own text survives the round trip through the parser as the call it meant.
    message = parse(two, layout, [WEATHER.as_openai(), SEARCH.as_openai()])
    assert [c.name for c in message.tool_calls] == ["get_weather", "search"]


@pytest.mark.parametrize(
    "text",
    [
        "",  # no call at all
        "Sure: " + call("search", q="x"),  # prose instead of a call
        call("lookup", q="x"),  # a tool that was not given
        call("get_weather", city="Paris"),  # a required argument missing
        call("get_weather", city="Paris", days="three"),  # a value of the wrong type
        call("get_weather", city="Paris", days=0),  # outside the schema's range
        call("get_weather", city="Paris", days=2, unit="k"),  # not in the enum
        call("get_weather", city="Paris", days=2, town="x"),  # a key the schema does not have
        call("search", q="x")[: -len("</tool_call>")],  # unfinished
    ],
)
def test_required_refuses_anything_but_valid_calls(text: str) -> None:
    assert not accepts(chat("required"), text)


def test_parallel_tool_calls_false_allows_exactly_one_call() -> None:
    req = chat("required", parallel_tool_calls=False)
    assert accepts(req, call("search", q="x"))
    assert not accepts(req, call("search", q="x") + call("search", q="y"))


def test_a_named_tool_is_the_only_call() -> None:
    req = chat(NamedTool("search"))
    assert accepts(req, call("search", q="x"))
    assert not accepts(req, call("get_weather", city="Paris", days=1))
    assert not accepts(req, call("search", q="x") + call("search", q="y"))


def test_reasoning_comes_first_and_holds_no_call() -> None:
    forced = call("search", q="x")
    assert accepts(chat("required"), "Let me look.</think>" + forced, reasoning="open")
    assert not accepts(chat("required"), forced, reasoning="open")  # the prompt opened <think>
    assert not accepts(chat("required"), "Let me " + forced + "</think>" + forced, reasoning="open")


def test_glm45_may_open_its_own_reasoning_or_answer_directly() -> None:
    forced = call("search", "glm45", q="x")
    assert accepts(chat("required"), "\n<think>Hmm.</think>\n" + forced, "glm45", "optional")
    assert accepts(chat("required"), "\n" + forced, "glm45", "optional")


def test_strict_tools_under_auto_allow_text_but_hold_calls_to_the_schema() -> None:
    strict = Tool(WEATHER.name, "", WEATHER.parameters, strict=True)
    req = chat(tools=(strict, SEARCH))
    assert accepts(req, "Just an answer.")
    assert accepts(req, "Checking. " + call("get_weather", city="Paris", days=2))
    assert not accepts(req, "Checking. " + call("get_weather", city="Paris"))
    # A tool not marked strict only needs well-formed arguments.
    assert accepts(req, call("search", anything="goes"))
    # The server's --strict-tools holds every tool.
    tag = structural_tag(chat(), "glm47", "closed", strict_tools=True)
    assert tag is not None and "triggered_tags" in json.dumps(tag)


SCHEMA = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
    "required": ["name", "age"],
    "additionalProperties": False,
}


def test_json_schema_answer_after_the_reasoning() -> None:
    req = chat("none", response_format=JsonAnswer(SCHEMA))
    assert accepts(req, 'Thinking.</think>{"name": "Ada", "age": 36}', reasoning="open")
    assert not accepts(req, '{"name": "Ada", "age": 36}', reasoning="open")
    assert not accepts(req, '{"name": "Ada"}')
    assert not accepts(req, 'Here: {"name": "Ada", "age": 36}')


def test_json_object_answer_or_tool_calls_under_auto() -> None:
    req = chat(response_format=JsonAnswer())
    assert accepts(req, '{"anything": [1, 2]}')
    assert accepts(req, call("search", q="x"))
    assert not accepts(req, "[1, 2]")
    assert not accepts(req, "plain text")


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("celsius", True),
        (" celsius ", False),  # the parser keeps strings exactly: padding would leave the enum
        ('"celsius"', False),  # JSON-quoted: the parser would keep the quotes
        ("kelvin", False),
    ],
)
def test_enum_strings_are_written_exactly(value: str, ok: bool) -> None:
    tool = Tool("t", "", {"type": "object", "properties": {"u": {"enum": ["celsius", "fahrenheit"]}}})
    text = f"<tool_call>t<arg_key>u</arg_key><arg_value>{value}</arg_value></tool_call>"
    assert accepts(chat("required", tools=(tool,)), text) is ok


def test_strings_keep_their_whitespace_and_limits() -> None:
    tool = Tool("t", "", {"type": "object", "properties": {"s": {"type": "string", "maxLength": 6}}})
    req = chat("required", tools=(tool,))
    assert accepts(req, "<tool_call>t<arg_key>s</arg_key><arg_value>  x\n  </arg_value></tool_call>")
    assert not accepts(req, "<tool_call>t<arg_key>s</arg_key><arg_value>  x\n   </arg_value></tool_call>")


def test_pydantic_style_refs_are_followed() -> None:
    params = {
        "type": "object",
        "$defs": {
            "Unit": {"type": "string", "enum": ["c", "f"]},
            "Point": {"type": "object", "properties": {"x": {"type": "integer"}}, "required": ["x"]},
        },
        "properties": {"unit": {"$ref": "#/$defs/Unit"}, "at": {"$ref": "#/$defs/Point"}},
        "required": ["unit", "at"],
    }
    req = chat("required", tools=(Tool("t", "", params),))
    ok = call("t", unit="c", at={"x": 1})
    assert accepts(req, ok)
    assert not accepts(req, call("t", unit="k", at={"x": 1}))
    assert not accepts(req, call("t", unit="c", at={"y": 1}))


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ('{"name": "Ada"}', True),
        ('{"name": "Adalbertine"}', False),  # past maxLength
        ('{"name": ""}', False),  # under minLength
        ('{"name": "A\x07a"}', False),  # a raw control character is not JSON (xgrammar's own rule allows it)
    ],
)
def test_length_limited_json_strings_stay_json(text: str, ok: bool) -> None:
    schema = {"type": "object", "properties": {"name": {"type": "string", "minLength": 1, "maxLength": 8}}}
    assert accepts(chat("none", response_format=JsonAnswer(schema)), text) is ok


def test_tags_the_parser_acts_on_cannot_hide_in_free_text_or_json() -> None:
    # Inside a JSON answer's string, <think> would switch the parser to reasoning.
    answer = chat("none", response_format=JsonAnswer())
    assert accepts(answer, '{"a": "x < y"}')
    assert not accepts(answer, '{"a": "x <think> y"}')
    # Inside a JSON-valued argument, </arg_value> would end the value early.
    tool = Tool("t", "", {"type": "object", "properties": {"o": {"type": "object"}}, "required": ["o"]})
    assert not accepts(chat("required", tools=(tool,)), call("t", o={"k": "a</arg_value>b"}))
    assert accepts(chat("required", tools=(tool,)), call("t", o={"k": "a</b>"}))
    # In prose beside strict calls, a role marker would end the turn for the parser.
    strict = chat(tools=(Tool("t", "", tool.parameters, strict=True),))
    assert not accepts(strict, "Hello <|user|> there")


@pytest.mark.parametrize(("low", "high"), [(0, 40), (300, 600), (150, 150), (250, 1234)])
def test_long_length_limits_compile_and_count_exactly(low: int, high: int) -> None:
    # xgrammar refuses a single repetition count much above 128; grammar_schema nests them.
    schema = {"type": "object", "properties": {"s": {"type": "string", "minLength": low, "maxLength": high}}}
    req = chat("none", response_format=JsonAnswer(schema))
    for n, ok in ((low, True), (high, True), (high + 1, False), ((low + high) // 2, True)):
        assert accepts(req, json.dumps({"s": "x" * n})) is ok, n
    if low:
        assert not accepts(req, json.dumps({"s": "x" * (low - 1)}))
