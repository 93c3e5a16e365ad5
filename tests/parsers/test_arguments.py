"""Schema typing, decoding, and the prefix-stable value encoder."""

from __future__ import annotations

import json

import pytest

from parsers.arguments import ValueEncoder, could_be_non_string, decode, index_tools, schema_types


@pytest.mark.parametrize(
    ("schema", "types"),
    [
        ({"type": "string"}, {"string"}),
        ({"type": ["integer", "string"]}, {"integer", "string"}),
        ({"anyOf": [{"type": "string"}, {"type": "null"}]}, {"string", "null"}),
        ({"oneOf": [{"type": "number"}, {"type": "boolean"}]}, {"number", "boolean"}),
        ({"enum": ["a", "b"]}, {"string"}),
        ({"enum": [1, None]}, {"integer", "null"}),
        ({"properties": {}}, {"object"}),
        ({"items": {}}, {"array"}),
    ],
)
def test_schema_types(schema: dict[str, object], types: set[str]) -> None:
    assert schema_types(schema) == frozenset(types)


@pytest.mark.parametrize("schema", [{}, {"$ref": "#/defs/x"}, {"anyOf": [{"type": "string"}, {}]}, None])
def test_unknown_schema_is_none(schema: object) -> None:
    assert schema_types(schema) is None


@pytest.mark.parametrize(
    ("raw", "types", "value"),
    [
        (" 007 ", frozenset({"string"}), " 007 "),
        ("007", None, "007"),
        ("1e3", None, 1000.0),
        ("NaN", None, "NaN"),
        ("3.0", frozenset({"integer"}), 3),
        ("3.5", frozenset({"integer"}), 3.5),
        ("FALSE", frozenset({"boolean"}), False),
        ("None", frozenset({"null", "string"}), None),
        ("[1, 2]", frozenset({"array"}), [1, 2]),
        ("[1, 2", frozenset({"array"}), "[1, 2"),
        ("{'a': None}", frozenset({"object"}), {"a": None}),
    ],
)
def test_decode(raw: str, types: frozenset[str] | None, value: object) -> None:
    assert decode(raw, types) == value


def test_viability_is_prefix_closed_for_everything_decode_types() -> None:
    # For every text that decodes to a non-string, each of its prefixes must be "still possible".
    samples = ["null", " None ", "true", "False\n", "-12.5e+3", "0", "[1]", "{}", '"x"', "  42  "]
    for types in (None, frozenset({"string", "null", "boolean", "number", "array", "object"})):
        for text in samples:
            if isinstance(decode(text, types), str):
                continue
            for i in range(len(text) + 1):
                assert could_be_non_string(text[:i], types), (text[:i], types)


@pytest.mark.parametrize(
    ("types", "pieces"),
    [
        (frozenset({"string"}), ["ab", "", "c\n"]),
        (frozenset({"string", "null"}), ["Nu", "ll", "x"]),
        (frozenset({"string", "null"}), ["nu", "ll"]),
        (frozenset({"integer", "string"}), ["12", "3", "abc"]),
        (None, ["tr", "ue"]),
        (None, ['{"a"', ": 1}"]),
        (None, ["import os", "\n"]),
    ],
)
def test_encoder_fragments_concatenate_to_the_decoded_value(
    types: frozenset[str] | None, pieces: list[str]
) -> None:
    enc = ValueEncoder(types)
    text = "".join(enc.feed(p) for p in pieces) + enc.close()
    assert text == json.dumps(decode("".join(pieces), types), ensure_ascii=False)


def test_string_value_streams_immediately_once_it_cannot_be_anything_else() -> None:
    enc = ValueEncoder(frozenset({"string", "null"}))
    assert enc.feed("N") == ""  # could still be None
    assert enc.feed("ice") == '"Nice'
    assert enc.feed(" day") == " day"


def test_index_tools_reads_all_three_shapes() -> None:
    params = {"type": "object", "properties": {"x": {"type": "integer"}}, "required": ["x"]}
    tools = [
        {"type": "function", "function": {"name": "a", "parameters": params}},
        {"type": "function", "name": "b", "parameters": params},
        {"name": "c", "input_schema": params},
    ]
    schemas = index_tools(tools)
    assert set(schemas) == {"a", "b", "c"}
    assert all(
        s.properties == {"x": frozenset({"integer"})} and s.required == {"x"} for s in schemas.values()
    )
