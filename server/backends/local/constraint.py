"""Decoding constraints in GLM's own output format: forced and strict tool calls, and JSON answers.

A request's tool_choice, strict tools and response_format become one xgrammar structural tag, which
vLLM's structured outputs apply token by token. The model keeps writing what it was trained to write —
its reasoning, then `<tool_call>NAME<arg_key>K</arg_key><arg_value>V</arg_value></tool_call>` — and can
only write what the request allows: tool names from the request, argument keys from the tool's schema,
values valid for their types (call_format.py), and JSON answers valid for their schema. Forcing JSON
onto GLM's tool calls instead makes it loop until the context ends (vllm#47504).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from parsers import LayoutName
from parsers.tags import (
    CALL_OPEN,
    TAGS,
    THINK_CLOSE,
    THINK_OPEN,
    layout_of,
)

from ...core.request import ChatRequest, NamedTool, Tool
from .call_format import NEWLINE, Format, call_format
from .grammar_schema import for_grammar
from .prompt import ReasoningState

# Tags that must not appear as free text, where the parser would act on them: none in reasoning (a call
# must come after </think> to count) nor in a JSON answer, not even inside its strings; free text may
# open a call, so <tool_call> stays allowed there.
REASONING_EXCLUDES = JSON_EXCLUDES = sorted(TAGS)
TEXT_EXCLUDES = sorted(TAGS - {CALL_OPEN})

# A JSON answer may be pretty-printed; the cap only stops a weak model from spending its whole budget
# on whitespace where the grammar would otherwise allow any amount.
JSON_WHITESPACE = 16


def structural_tag(
    req: ChatRequest, layout: LayoutName, reasoning: ReasoningState, strict_tools: bool = False
) -> Format | None:
    """The structural tag that holds `req`'s output to what it asks for, or None when it asks nothing.

    `reasoning` says where the prompt leaves the model's thinking, which comes first when it is on.
    `strict_tools` holds every call to its schema (as if each tool were marked strict).
    """
    answer = _answer(req, layout, strict_tools)
    if answer is None:
        return None
    return {"type": "structural_tag", "format": _sequence([*_reasoning(reasoning), NEWLINE, answer])}


def _answer(req: ChatRequest, layout: LayoutName, strict_tools: bool) -> Format | None:
    choice = req.tool_choice
    if req.parses_tools and isinstance(choice, NamedTool):
        # Exactly one call to exactly that tool: GLM would otherwise repeat a forced call without end
        # (sglang PR#8224).
        return _call(next(t for t in req.tools if t.name == choice.name), strict=True)
    json_answer = _json(req.response_format.schema) if req.response_format is not None else None
    if req.parses_tools and choice == "required":
        return _calls(req.tools, layout, req.parallel_tool_calls, strict=True)
    if req.parses_tools and json_answer is not None:
        # Tools or a JSON answer: the model calls, or answers in JSON; nothing else.
        calls = _calls(req.tools, layout, req.parallel_tool_calls, strict=strict_tools)
        return {"type": "or", "elements": [calls, json_answer]}
    if json_answer is not None:
        return json_answer
    strict = strict_tools or any(t.strict for t in req.tools)
    if req.parses_tools and (strict or not req.parallel_tool_calls):
        # Free text, but a call once begun is held to its tool's schema (strict tools) or is the only
        # one (parallel_tool_calls false).
        return {
            "type": "triggered_tags",
            "triggers": [CALL_OPEN],
            "tags": [_call(t, strict=strict_tools or t.strict) for t in req.tools],
            "excludes": TEXT_EXCLUDES,
            "stop_after_first": not req.parallel_tool_calls,
        }
    return None


def _calls(tools: Sequence[Tool], layout: LayoutName, parallel: bool, strict: bool) -> Format:
    """One or more calls to the given tools and nothing else (one only when not `parallel`)."""
    return {
        "type": "tags_with_separator",
        "tags": [_call(t, strict) for t in tools],
        "separator": layout_of(layout).between_calls,
        "at_least_one": True,
        "stop_after_first": not parallel,
    }


def _call(tool: Tool, strict: bool) -> Format:
    return call_format(tool.name, tool.parameters, strict)


def _json(schema: Mapping[str, Any] | None) -> Format:
    return {
        "type": "json_schema",
        "json_schema": for_grammar(dict(schema)) if schema is not None else {"type": "object"},
        "style": "json",
        "max_whitespace_cnt": JSON_WHITESPACE,
        "excludes": JSON_EXCLUDES,
    }


def _reasoning(state: ReasoningState) -> list[Format]:
    if state == "closed":
        return []
    thought: Format = {
        "type": "tag",
        "begin": "" if state == "open" else THINK_OPEN,
        "content": {"type": "any_text", "excludes": REASONING_EXCLUDES},
        "end": THINK_CLOSE,
    }
    if state == "open":
        return [thought]
    # GLM-4.5/4.6 open <think> themselves, after a newline, or answer straight away.
    return [{"type": "optional", "content": _sequence([NEWLINE, thought])}]


def _sequence(elements: list[Format]) -> Format:
    return elements[0] if len(elements) == 1 else {"type": "sequence", "elements": elements}
