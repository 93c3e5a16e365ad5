"""Tool-call arguments: JSON-schema types, value decoding, and prefix-stable streaming of JSON fragments.

GLM writes argument values with no type marker: strings raw, everything else as JSON text. Only the
tool's schema says whether `<arg_value>10</arg_value>` is the number 10 or the string "10". The one
serialisation path is `ValueEncoder`: streamed fragments and the final value are the same bytes.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from json.encoder import encode_basestring
from typing import Any

# A type set of None means "no schema for this key": decode JSON when the text is JSON, else keep it.
Types = frozenset[str] | None

_STRING = frozenset({"string"})
_NUMBER_FULL = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?")
# Every prefix of a JSON number matches this (and a few non-numbers do too, which is harmless: a
# value is only held back a little longer).
_NUMBER_PREFIX = re.compile(r"-?\d*(?:\.\d*)?(?:[eE][+-]?\d*)?")
_PY_TYPES = {
    str: "string",
    bool: "boolean",
    int: "integer",
    float: "number",
    type(None): "null",
    list: "array",
    dict: "object",
}


@dataclass(frozen=True, slots=True)
class ToolSchema:
    """What the parser needs to know about one declared tool."""

    name: str
    properties: Mapping[str, Types]
    required: frozenset[str]


def schema_types(schema: Any) -> Types:
    """The JSON types a schema allows, or None when it does not say (no type, `$ref`, `{}`)."""
    if not isinstance(schema, Mapping):
        return None
    found: set[str] = set()
    kind = schema.get("type")
    if isinstance(kind, str):
        found.add(kind)
    elif isinstance(kind, list):
        found.update(k for k in kind if isinstance(k, str))
    for key in ("anyOf", "oneOf"):
        branches = schema.get(key)
        if isinstance(branches, list):
            for branch in branches:
                sub = schema_types(branch)
                if sub is None:
                    return None
                found |= sub
    if "enum" in schema and isinstance(schema["enum"], list):
        found.update(_PY_TYPES.get(type(v), "string") for v in schema["enum"])
    if "const" in schema:
        found.add(_PY_TYPES.get(type(schema["const"]), "string"))
    if not found:
        if "properties" in schema:
            found.add("object")
        elif "items" in schema:
            found.add("array")
    return frozenset(found) or None


def index_tools(tools: Sequence[Mapping[str, Any]] | None) -> dict[str, ToolSchema]:
    """Declared tools by name. Accepts the Chat Completions, Responses and Anthropic tool shapes."""
    out: dict[str, ToolSchema] = {}
    for tool in tools or ():
        function = tool.get("function")
        spec: Mapping[str, Any] = function if isinstance(function, Mapping) else tool
        name = spec.get("name")
        if not isinstance(name, str):
            continue
        params = spec.get("parameters", spec.get("input_schema")) or {}
        props = params.get("properties") if isinstance(params, Mapping) else None
        required = params.get("required") if isinstance(params, Mapping) else None
        out[name] = ToolSchema(
            name=name,
            properties={k: schema_types(v) for k, v in (props or {}).items()},
            required=frozenset(r for r in (required or ()) if isinstance(r, str)),
        )
    return out


def _reject_constant(name: str) -> Any:
    raise ValueError(name)  # NaN and Infinity are not JSON; keep such text as a string


def decode(raw: str, types: Types) -> Any:
    """The typed value of one raw argument text. Strings are never stripped or coerced."""
    if types is None:
        try:
            return json.loads(raw, parse_constant=_reject_constant)
        except ValueError:
            return raw
    if types == _STRING:
        return raw
    text = raw.strip()
    if "null" in types and text in ("null", "None"):
        return None
    if "boolean" in types and text.lower() in ("true", "false"):
        return text.lower() == "true"
    if types & {"integer", "number"} and _NUMBER_FULL.fullmatch(text):
        number = json.loads(text)
        if "number" not in types and isinstance(number, float) and number.is_integer():
            return int(number)
        return number
    if types & {"object", "array"} and text[:1] in ("{", "["):
        for load in (json.loads, ast.literal_eval):
            try:
                value = load(text)
            except (ValueError, SyntaxError, MemoryError, RecursionError):
                continue
            if isinstance(value, dict | list):
                return value
    if "string" not in types and (inner := _json_string(text)) is not None:
        # The schema wants no string, and the model wrote its value as JSON text inside a string
        # (`"42"`, or `[{\"id\": 1}]` with its quotes escaped, as GLM-4.7 does for Claude Code's todos):
        # the value is what that text decodes to, if it is of a type the schema takes.
        value = decode(inner, types)
        if not isinstance(value, str):
            return value
    return raw


def _json_string(text: str) -> str | None:
    """The text inside `text` read as a JSON string: a quoted string literal, or text whose quotes are
    escaped as they would be inside one; None when it is neither (or is its own inside)."""
    for literal in (text, f'"{text}"') if '\\"' in text or text[:1] == '"' else ():
        try:
            inner = json.loads(literal)
        except ValueError:
            continue
        if isinstance(inner, str) and inner != text:
            return inner
    return None


def _could_be_literal(core: str, closed: bool, literal: str) -> bool:
    return core == literal if closed else literal.startswith(core)


def could_be_non_string(raw: str, types: Types) -> bool:
    """Whether `raw`, so far, may still decode to something other than a string.

    Must hold for every prefix of every text that `decode` turns into a non-string, so that a value
    committed to streaming as a string is never decoded differently at its end.
    """
    text = raw.lstrip()
    if not text:
        return True
    core = text.rstrip()
    closed = core != text  # trailing whitespace: the literal must already be complete
    first = core[0]
    if types is None:
        if first in '{["':
            return True
        literals: tuple[str, ...] = ("null", "true", "false")
        number = True
    else:
        if first in "{[":
            return bool(types & {"object", "array"})
        literals = ("null", "None") if "null" in types else ()
        if "boolean" in types and any(_could_be_literal(core.lower(), closed, b) for b in ("true", "false")):
            return True
        number = bool(types & {"integer", "number"})
    if any(_could_be_literal(core, closed, lit) for lit in literals):
        return True
    return number and bool((_NUMBER_FULL if closed else _NUMBER_PREFIX).fullmatch(core))


class ValueEncoder:
    """Turns one value's raw text, fed in pieces, into JSON text; streams whatever is prefix-stable.

    A string-typed value streams at once as `"` plus escaped text. A value that may still turn out to
    be a number, literal, object or array is held until it is decided, then either streamed as a
    string or decoded whole at `close()`.
    """

    __slots__ = ("_held", "_mode", "_types")

    _STREAM, _PROBE, _WHOLE, _OPEN = 0, 1, 2, 3  # _OPEN: streaming, opening quote already sent

    def __init__(self, types: Types) -> None:
        self._types = types
        self._held: list[str] = []
        if types == _STRING:
            self._mode = self._STREAM
        elif types is not None and "string" not in types:
            self._mode = self._WHOLE
        else:
            self._mode = self._PROBE

    def feed(self, text: str) -> str:
        """Feed raw value text; returns the JSON text that can be sent now (maybe empty)."""
        mode = self._mode
        if mode == self._OPEN:
            return encode_basestring(text)[1:-1]
        if mode == self._STREAM:
            self._mode = self._OPEN
            return encode_basestring(text)[:-1]
        self._held.append(text)
        if mode == self._PROBE:
            raw = "".join(self._held)
            if not could_be_non_string(raw, self._types):
                self._held.clear()
                self._mode = self._OPEN
                return encode_basestring(raw)[:-1]
            if raw.lstrip()[:1] in ("{", "[", '"'):
                self._mode = self._WHOLE  # decided at the end; no need to re-check every piece
        return ""

    def close(self) -> str:
        """End of the value: the rest of its JSON text (never empty)."""
        if self._mode == self._OPEN:
            return '"'
        if self._mode == self._STREAM:
            return '""'
        value = decode("".join(self._held), self._types)
        self._held.clear()
        return json.dumps(value, ensure_ascii=False)
