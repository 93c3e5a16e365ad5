"""The corpus's vocabulary: the Case record, the tools the cases declare, and GLM call builders."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Args = dict[str, Any]


def _fn(name: str, props: dict[str, Any] | None = None, required: tuple[str, ...] = ()) -> dict[str, Any]:
    params: dict[str, Any] = {"type": "object", "properties": props or {}}
    if required:
        params["required"] = list(required)
    return {"type": "function", "function": {"name": name, "description": "", "parameters": params}}


S = {"type": "string"}
WEATHER = _fn(
    "get_weather",
    {"city": S, "days": {"type": "integer"}, "unit": {"type": "string", "enum": ["c", "f"]}},
    ("city",),
)
WRITE = _fn("write_file", {"path": S, "content": S}, ("path", "content"))
EDIT = _fn("edit", {"path": S, "old": S, "new": S}, ("path",))
SEARCH = _fn("search", {"query": S}, ("query",))
TIME = _fn("get_time")
LIST = _fn("list_files")
LS = _fn("ls", {"dirPath": S})
SHELL = _fn("send_command_to_shell", {"command": S}, ("command",))
MCP = _fn("mcp__github__create_issue", {"title": S, "body": S}, ("title",))
BROWSER = _fn("browser.search", {"query": S, "id": {"type": ["integer", "string"]}})
CONFIGURE = _fn(
    "configure",
    {
        "count": {"type": "integer"},
        "ratio": {"type": "number"},
        "enabled": {"type": "boolean"},
        "tags": {"type": "array", "items": S},
        "options": {"type": "object"},
        "note": {"anyOf": [S, {"type": "null"}]},
        "id": {"type": ["integer", "string"]},
        "items": {"type": "array", "items": {"type": "object", "properties": {"a": {"type": "integer"}}}},
        "nothing": {"type": "null"},
        "blob": {"anyOf": [{"type": "object"}, S]},
    },
)
ALL = [WEATHER, WRITE, EDIT, SEARCH, TIME, LIST, LS, SHELL, MCP, BROWSER, CONFIGURE]
RESPONSES_SHAPE = [
    {"type": "function", "name": "get_weather", "parameters": WEATHER["function"]["parameters"]}
]
ANTHROPIC_SHAPE = [
    {"name": "get_weather", "description": "", "input_schema": WEATHER["function"]["parameters"]}
]

CODE = 'def main():\n    print("hi")\n\n\tif a < b and c > d:\n        return "</arg_values>"\n'
BIG = "".join(f"line {i}: x = {{'k': [{i}, \"v\"]}} <tag> & \\ done\n" for i in range(80))


@dataclass(frozen=True)
class Case:
    id: str
    source: str
    layout: str
    tools: list[dict[str, Any]] | None
    raw: str
    reasoning: str | None = None
    content: str | None = None
    tool_calls: list[tuple[str, Args]] = field(default_factory=list)
    prompt_ends_with_think: bool = False
    finish_reason: str = "stop"
    notes: str = ""
    debatable: bool = False


def call47(name: str, **args: Any) -> str:
    body = "".join(f"<arg_key>{k}</arg_key><arg_value>{v}</arg_value>" for k, v in args.items())
    return f"<tool_call>{name}{body}</tool_call>"


def call45(name: str, **args: Any) -> str:
    body = "".join(f"<arg_key>{k}</arg_key>\n<arg_value>{v}</arg_value>\n" for k, v in args.items())
    return f"<tool_call>{name}\n{body}</tool_call>"
