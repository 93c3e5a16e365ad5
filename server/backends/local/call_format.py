"""One GLM tool call as a structural-tag format: argument keys and values held to the tool's schema.

Values follow the convention the parser decodes (parsers/arguments.py): a string is its raw text, kept
exactly (code edits need their whitespace), and every other type is JSON. Each argument is built here
rather than with xgrammar's `glm_xml` style, which lets an enum or length-limited string be padded
with whitespace or JSON-quoted — text that decodes to a value outside the schema.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from parsers.arguments import schema_types
from parsers.tags import CALL_CLOSE, CALL_OPEN, KEY_CLOSE, KEY_OPEN, VALUE_CLOSE, VALUE_OPEN

from .grammar_schema import for_grammar

Format = dict[str, Any]

# GLM-4.5/4.6 put a newline between tags, GLM-4.7+ nothing; either is accepted for either.
NEWLINE: Format = {"type": "regex", "pattern": r"\n?"}
# Compact JSON is what GLM writes inside a value; the cap keeps a weak model from looping on spaces.
VALUE_WHITESPACE = 4


def call_format(name: str, parameters: Mapping[str, Any], strict: bool) -> Format:
    """`<tool_call>NAME` then the arguments then `</tool_call>`.

    A tool that takes nothing (`"properties": {}`, no additionalProperties): no arguments at all, or a
    weak model writes invented keys until max_tokens. Strict: the schema's properties in their declared
    order, required ones present, nothing else. Otherwise (or with no properties declared): any
    well-formed keys and values.
    """
    properties = parameters.get("properties")
    if isinstance(properties, Mapping) and not properties and not parameters.get("additionalProperties"):
        content: Format = NEWLINE
    elif not strict or not isinstance(properties, Mapping) or not properties:
        content = {
            "type": "json_schema",
            "json_schema": {"type": "object"},
            "style": "glm_xml",
            "max_whitespace_cnt": 2,
            "excludes": [VALUE_CLOSE],
        }
    else:
        required = set(parameters.get("required") or ())
        defs = {k: parameters[k] for k in ("$defs", "definitions") if k in parameters}
        elements = []
        for key, schema in properties.items():
            argument = _argument(key, _resolve(schema, defs), defs)
            elements.append(argument if key in required else {"type": "optional", "content": argument})
        content = {"type": "sequence", "elements": [*elements, NEWLINE]}
    return {"type": "tag", "begin": CALL_OPEN + name, "content": content, "end": CALL_CLOSE}


def _argument(key: str, schema: Any, defs: Mapping[str, Any]) -> Format:
    return {
        "type": "sequence",
        "elements": [
            NEWLINE,
            {"type": "const_string", "value": f"{KEY_OPEN}{key}{KEY_CLOSE}"},
            NEWLINE,
            {"type": "tag", "begin": VALUE_OPEN, "content": _value(schema, defs), "end": VALUE_CLOSE},
        ],
    }


def _value(schema: Any, defs: Mapping[str, Any]) -> Format:
    types = schema_types(schema)
    if types is None and isinstance(schema, Mapping) and "$ref" not in schema:
        return _text(None)  # no type given ({}, a description only): the parser keeps any text
    if types == frozenset({"string"}):
        choices = schema.get("enum", [schema["const"]] if "const" in schema else None)
        if isinstance(choices, list) and all(isinstance(c, str) for c in choices):
            return {"type": "or", "elements": [{"type": "const_string", "value": c} for c in choices]}
        pattern = schema.get("pattern")
        if isinstance(pattern, str):
            return {"type": "regex", "pattern": pattern.removeprefix("^").removesuffix("$")}
        return _text(schema.get("maxLength"))
    if types is not None and "string" in types:
        return _text(None)  # a union with string: the parser decodes what looks typed, else keeps the text
    return {
        "type": "json_schema",
        "json_schema": for_grammar({**schema, **defs}) if isinstance(schema, Mapping) else schema,
        "style": "json",
        "max_whitespace_cnt": VALUE_WHITESPACE,
        "excludes": [VALUE_CLOSE],  # it would end the value for the parser, even inside a JSON string
    }


def _text(max_chars: Any) -> Format:
    # any_text counts characters of valid UTF-8; a model writing broken UTF-8 (a random one does) can
    # pass maxLength once the detokenizer has turned each broken byte into U+FFFD. Real models do not.
    text: Format = {"type": "any_text", "excludes": [VALUE_CLOSE]}
    if isinstance(max_chars, int):
        text["max_chars"] = max_chars
    return text


def _resolve(schema: Any, defs: Mapping[str, Any]) -> Any:
    """A property that is only a local `$ref` (pydantic writes these for enums and models), resolved."""
    ref = schema.get("$ref") if isinstance(schema, Mapping) else None
    if not isinstance(ref, str) or not ref.startswith("#/"):
        return schema
    parts = ref.split("/")
    if len(parts) != 3:
        return schema  # not a local definition: the grammar engine judges it
    target = defs.get(parts[1], {}).get(parts[2])
    return target if isinstance(target, Mapping) else schema
