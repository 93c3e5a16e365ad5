"""Corpus: arguments typed by the tool's schema."""

from __future__ import annotations

from .case import ALL, BIG, CODE, Case, call45, call47

CASES: list[Case] = [
    # --- typed arguments ------------------------------------------------------------------------
    Case(
        "typed_scalars",
        "antirez/ds4#569",
        "glm47",
        ALL,
        call47("configure", count="10", ratio="0.5", enabled="true", nothing="null"),
        tool_calls=[("configure", {"count": 10, "ratio": 0.5, "enabled": True, "nothing": None})],
    ),
    Case(
        "typed_containers",
        "derived",
        "glm45",
        ALL,
        call45("configure", tags='["a", "b"]', options='{"x": {"y": [1, 2]}}', items='[{"a": 1}, {"a": 2}]'),
        tool_calls=[
            (
                "configure",
                {"tags": ["a", "b"], "options": {"x": {"y": [1, 2]}}, "items": [{"a": 1}, {"a": 2}]},
            )
        ],
    ),
    Case(
        "typed_padded_number",
        "derived",
        "glm47",
        ALL,
        call47("configure", count=" 42\n", ratio="1e3"),
        tool_calls=[("configure", {"count": 42, "ratio": 1000.0})],
    ),
    Case(
        "typed_python_literals",
        "derived",
        "glm47",
        ALL,
        call47("configure", enabled="True", nothing="None", note="None"),
        tool_calls=[("configure", {"enabled": True, "nothing": None, "note": None})],
    ),
    Case(
        "typed_python_dict",
        "derived",
        "glm47",
        ALL,
        call47("configure", options="{'a': True}"),
        tool_calls=[("configure", {"options": {"a": True}})],
    ),
    Case(
        "typed_bad_integer_kept",
        "derived",
        "glm47",
        ALL,
        call47("configure", count="many"),
        tool_calls=[("configure", {"count": "many"})],
    ),
    Case(
        "optional_string_streams",
        "vllm#40195",
        "glm47",
        ALL,
        call47("configure", note="Smith", id="Pura90"),
        tool_calls=[("configure", {"note": "Smith", "id": "Pura90"})],
    ),
    Case(
        "optional_string_null",
        "derived",
        "glm47",
        ALL,
        call47("configure", note="null", id="12"),
        tool_calls=[("configure", {"note": None, "id": 12})],
    ),
    Case(
        "union_object_or_string",
        "derived",
        "glm47",
        ALL,
        call47("configure", blob='{"k": 1}') + call47("configure", blob="{not json"),
        tool_calls=[("configure", {"blob": {"k": 1}}), ("configure", {"blob": "{not json"})],
    ),
    Case(
        "keys_outside_schema",
        "Z.ai TIR guide",
        "glm47",
        ALL,
        call47("get_weather", city="Paris", extra="10", flag="true", raw="007", obj='{"a": [1]}', word="hi"),
        tool_calls=[
            (
                "get_weather",
                {"city": "Paris", "extra": 10, "flag": True, "raw": "007", "obj": {"a": [1]}, "word": "hi"},
            )
        ],
        debatable=True,
    ),
    Case(
        "strings_that_look_like_json",
        "sglang PR#36688",
        "glm47",
        ALL,
        call47("write_file", path="007", content="true")
        + call47("edit", path="1e3", old="02134", new='{"compact":true}'),
        tool_calls=[
            ("write_file", {"path": "007", "content": "true"}),
            ("edit", {"path": "1e3", "old": "02134", "new": '{"compact":true}'}),
        ],
    ),
    Case(
        "numeric_string_not_coerced",
        "sglang Glm47MoeDetector",
        "glm47",
        ALL,
        call47("search", query="123abc"),
        tool_calls=[("search", {"query": "123abc"})],
    ),
    Case(
        "empty_string_value",
        "derived",
        "glm47",
        ALL,
        call47("edit", path="a.py", old="x", new=""),
        tool_calls=[("edit", {"path": "a.py", "old": "x", "new": ""})],
    ),
    Case(
        "code_value_exact",
        "sglang PR#20543",
        "glm45",
        ALL,
        call45("write_file", path="m.py", content=CODE),
        tool_calls=[("write_file", {"path": "m.py", "content": CODE})],
    ),
    Case(
        "leading_spaces_kept",
        "sglang PR#20543",
        "glm47",
        ALL,
        call47("edit", path="a", old="    x = 1\n", new="\n    x = 2  \n"),
        tool_calls=[("edit", {"path": "a", "old": "    x = 1\n", "new": "\n    x = 2  \n"})],
    ),
    Case(
        "angle_brackets_and_amp",
        "derived",
        "glm47",
        ALL,
        call47("search", query="a < b && c > d <b>bold</b>"),
        tool_calls=[("search", {"query": "a < b && c > d <b>bold</b>"})],
    ),
    Case(
        "tag_lookalikes_in_value",
        "derived",
        "glm47",
        ALL,
        call47("search", query="</arg_keys> and </arg_values> and <arg_valu"),
        tool_calls=[("search", {"query": "</arg_keys> and </arg_values> and <arg_valu"})],
    ),
    Case(
        "real_tags_inside_value",
        "derived",
        "glm47",
        ALL,
        call47(
            "write_file",
            path="t.jinja",
            content="<tool_call>{{ name }}<arg_key>k</arg_key></tool_call><think>",
        ),
        tool_calls=[
            (
                "write_file",
                {
                    "path": "t.jinja",
                    "content": "<tool_call>{{ name }}<arg_key>k</arg_key></tool_call><think>",
                },
            )
        ],
        notes="inside a value only </arg_value> ends it",
    ),
    Case(
        "value_ending_in_lt",
        "sglang PR#24147",
        "glm47",
        ALL,
        call47("search", query=".<"),
        tool_calls=[("search", {"query": ".<"})],
    ),
    Case(
        "backslashes_quotes_tabs",
        "derived",
        "glm47",
        ALL,
        call47("search", query="C:\\path\\\"quoted\"\t'single'\\n"),
        tool_calls=[("search", {"query": "C:\\path\\\"quoted\"\t'single'\\n"})],
    ),
    Case(
        "long_value",
        "vllm#32829",
        "glm47",
        ALL,
        call47("write_file", path="big.txt", content=BIG),
        tool_calls=[("write_file", {"path": "big.txt", "content": BIG})],
    ),
    Case(
        "cjk_keys_and_values",
        "derived",
        "glm45",
        [],
        call45("翻译", 文本="你好,世界", 대상="한국어"),
        tool_calls=[("翻译", {"文本": "你好,世界", "대상": "한국어"})],
    ),
    Case(
        "newlines_in_value_not_escaped",
        "llama.cpp PR#15186",
        "glm47",
        ALL,
        call47("search", query="bla\nbla"),
        tool_calls=[("search", {"query": "bla\nbla"})],
    ),
]
