"""The parser corpus: raw GLM output and the message it must parse to (fields of glm_output_format.md §8)."""

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
    generation: str
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


CASES: list[Case] = [
    # --- prose and reasoning -----------------------------------------------------------------
    Case(
        "plain_glm47_thinking_off",
        "derived",
        "glm47",
        None,
        "Hello! How can I help?",
        content="Hello! How can I help?",
    ),
    Case("plain_glm45_thinking_off", "derived", "glm45", None, "\nHello there.\n", content="Hello there."),
    Case(
        "reasoning_text_glm45",
        "derived",
        "glm45",
        None,
        "\n<think>The user greets me.</think>\nHi!",
        reasoning="The user greets me.",
        content="Hi!",
    ),
    Case(
        "reasoning_text_glm47",
        "vllm PR#31220",
        "glm47",
        None,
        "The user greets me.</think>Hi!",
        reasoning="The user greets me.",
        content="Hi!",
        prompt_ends_with_think=True,
    ),
    Case(
        "empty_think_glm45",
        "derived",
        "glm45",
        None,
        "\n<think></think>\nJust the answer.",
        content="Just the answer.",
    ),
    Case(
        "immediate_close_glm47",
        "ollama glm47_test.go",
        "glm47",
        None,
        "</think>Answer.",
        content="Answer.",
        prompt_ends_with_think=True,
    ),
    Case("whitespace_only_think", "derived", "glm45", None, "\n<think>\n\n</think>\n\nA", content="A"),
    Case(
        "truncated_reasoning_glm45",
        "derived",
        "glm45",
        None,
        "\n<think>Let me consider the ",
        reasoning="Let me consider the",
        finish_reason="length",
    ),
    Case(
        "truncated_reasoning_glm47",
        "derived",
        "glm47",
        None,
        "Let me consider",
        reasoning="Let me consider",
        prompt_ends_with_think=True,
        finish_reason="length",
    ),
    Case(
        "eos_without_think_close_glm47",
        "sglang#37645",
        "glm47",
        None,
        "The capital of France is Paris.",
        reasoning="The capital of France is Paris.",
        content="The capital of France is Paris.",
        prompt_ends_with_think=True,
        debatable=True,
        notes="already streamed as reasoning, so it is sent again as content: the fold equals the stream",
    ),
    Case(
        "stray_close_in_content",
        "derived",
        "glm47",
        None,
        "Reason.</think>Answer.</think> More.",
        reasoning="Reason.",
        content="Answer. More.",
        prompt_ends_with_think=True,
    ),
    Case(
        "stray_close_thinking_disabled",
        "antirez/ds4#897",
        "glm47",
        None,
        "</think>Answer",
        content="Answer",
        notes="prompt ended with </think>; the model repeats it",
    ),
    Case(
        "second_think_block",
        "derived",
        "glm45",
        None,
        "\n<think>A</think>\nText<think>B</think>\nMore",
        reasoning="A\n\nB",
        content="Text\nMore",
    ),
    Case(
        "inner_whitespace_kept",
        "derived",
        "glm47",
        None,
        "\nStep 1\n\n  Step 2\n</think>\n\nAnswer:\n  indented\n\n",
        reasoning="Step 1\n\n  Step 2",
        content="Answer:\n  indented",
        prompt_ends_with_think=True,
    ),
    Case(
        "chinese_text",
        "derived",
        "glm47",
        None,
        "用户问天气。</think>北京今天晴,气温 20°C。",
        reasoning="用户问天气。",
        content="北京今天晴,气温 20°C。",
        prompt_ends_with_think=True,
    ),
    Case(
        "korean_text",
        "derived",
        "glm45",
        None,
        "\n<think>사용자가 인사했다.</think>\n안녕하세요!",
        reasoning="사용자가 인사했다.",
        content="안녕하세요!",
    ),
    Case(
        "lt_in_content",
        "derived",
        "glm47",
        None,
        "if a < b and b <= c then <div>ok</div> <|not a tag|>",
        content="if a < b and b <= c then <div>ok</div> <|not a tag|>",
    ),
    Case("content_ends_with_lt", "sglang PR#24147", "glm47", None, "x <", content="x <"),
    # --- tool calls ----------------------------------------------------------------------------
    Case(
        "single_call_glm47",
        "derived",
        "glm47",
        ALL,
        "Need weather.</think>" + call47("get_weather", city="Paris", days=3),
        reasoning="Need weather.",
        tool_calls=[("get_weather", {"city": "Paris", "days": 3})],
        prompt_ends_with_think=True,
    ),
    Case(
        "single_call_glm45",
        "mlx-lm PR#1756",
        "glm45",
        ALL,
        "\n<think>Need weather.</think>\n" + call45("get_weather", city="Paris"),
        reasoning="Need weather.",
        tool_calls=[("get_weather", {"city": "Paris"})],
        notes="name is followed by a newline that must not stay in it",
    ),
    Case(
        "content_before_call_glm45",
        "derived",
        "glm45",
        ALL,
        "\n<think></think>\nLet me check.\n" + call45("get_weather", city="Oslo", days=2),
        content="Let me check.",
        tool_calls=[("get_weather", {"city": "Oslo", "days": 2})],
    ),
    Case(
        "two_calls_glm47",
        "derived",
        "glm47",
        ALL,
        "</think>" + call47("get_weather", city="Paris") + call47("get_weather", city="Rome"),
        tool_calls=[("get_weather", {"city": "Paris"}), ("get_weather", {"city": "Rome"})],
        prompt_ends_with_think=True,
    ),
    Case(
        "three_calls_glm45",
        "derived",
        "glm45",
        ALL,
        "\n<think>x</think>\n" + "\n".join(call45("search", query=q) for q in "abc"),
        reasoning="x",
        tool_calls=[("search", {"query": q}) for q in "abc"],
    ),
    Case(
        "zero_arg_glm47",
        "vllm#32213 vllm#44326",
        "glm47",
        ALL,
        "</think><tool_call>get_time</tool_call>",
        tool_calls=[("get_time", {})],
        prompt_ends_with_think=True,
    ),
    Case(
        "zero_arg_glm45",
        "sglang PR#15405",
        "glm45",
        ALL,
        "\n<think></think>\n<tool_call>list_files\n</tool_call>",
        tool_calls=[("list_files", {})],
    ),
    Case(
        "zero_arg_then_call",
        "sglang PR#15333",
        "glm47",
        ALL,
        "<tool_call>get_time</tool_call>" + call47("search", query="news"),
        tool_calls=[("get_time", {}), ("search", {"query": "news"})],
    ),
    Case(
        "mcp_name",
        "derived",
        "glm47",
        ALL,
        call47("mcp__github__create_issue", title="Bug", body="It breaks."),
        tool_calls=[("mcp__github__create_issue", {"title": "Bug", "body": "It breaks."})],
    ),
    Case(
        "dotted_name_union_id",
        "Z.ai TIR guide",
        "glm45",
        ALL,
        call45("browser.search", query="GLM", id="7") + "\n" + call45("browser.search", query="q", id="x7"),
        tool_calls=[
            ("browser.search", {"query": "GLM", "id": 7}),
            ("browser.search", {"query": "q", "id": "x7"}),
        ],
    ),
    Case(
        "text_between_and_after_calls",
        "legacy vLLM #24",
        "glm47",
        ALL,
        "First." + call47("search", query="a") + "Then." + call47("search", query="b") + "Done.",
        content="First.Then.Done.",
        tool_calls=[("search", {"query": "a"}), ("search", {"query": "b"})],
    ),
    Case(
        "call_right_after_think_close",
        "vLLM glm_reasoning_parser.py",
        "glm47",
        ALL,
        "Plan.</think>" + call47("search", query="x"),
        reasoning="Plan.",
        tool_calls=[("search", {"query": "x"})],
        prompt_ends_with_think=True,
    ),
    Case(
        "call_inside_think_no_close",
        "sglang PR#17714",
        "glm47",
        ALL,
        "I should look it up." + call47("search", query="pal"),
        reasoning="I should look it up.",
        tool_calls=[("search", {"query": "pal"})],
        prompt_ends_with_think=True,
    ),
    Case(
        "call_inside_think_late_close",
        "opencode PR#6883",
        "glm47",
        ALL,
        "Look." + call47("search", query="x") + "Found it.</think>The answer.",
        reasoning="Look.\n\nFound it.",
        content="The answer.",
        tool_calls=[("search", {"query": "x"})],
        prompt_ends_with_think=True,
        debatable=True,
        notes="a call from reasoning returns to reasoning",
    ),
    Case(
        "tools_none_markup_is_content",
        "derived",
        "glm47",
        None,
        "<tool_call>get_time</tool_call>",
        content="<tool_call>get_time</tool_call>",
    ),
    Case(
        "tools_none_markup_in_reasoning",
        "derived",
        "glm47",
        None,
        "Maybe <tool_call>x<arg_key>k</arg_key></think>ok",
        reasoning="Maybe <tool_call>x<arg_key>k</arg_key>",
        content="ok",
        prompt_ends_with_think=True,
    ),
    Case(
        "unknown_tool_kept",
        "derived",
        "glm47",
        [WEATHER],
        call47("delete_everything", path="/"),
        tool_calls=[("delete_everything", {"path": "/"})],
        debatable=True,
    ),
    Case(
        "empty_tools_list",
        "derived",
        "glm47",
        [],
        call47("anything", n="1"),
        tool_calls=[("anything", {"n": 1})],
        notes="no schema: keys are JSON-decoded when they can be",
    ),
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
    # --- stops, whitespace and layouts ----------------------------------------------------------
    Case(
        "observation_leak_after_call",
        "zai-org/GLM-4#398",
        "glm47",
        ALL,
        call47("search", query="x") + "<|observation|><tool_response>fake</tool_response>",
        tool_calls=[("search", {"query": "x"})],
    ),
    Case(
        "user_leak_in_text",
        "llama.cpp PR#14939",
        "glm47",
        None,
        "Hello!<|user|>What's up?<|assistant|>Hi",
        content="Hello!",
    ),
    Case(
        "endoftext_leak",
        "derived",
        "glm45",
        None,
        "\n<think>r</think>\nDone.<|endoftext|>junk",
        reasoning="r",
        content="Done.",
    ),
    Case(
        "spaces_instead_of_newlines",
        "ik_llama.cpp disc. #753",
        "glm45",
        ALL,
        "<tool_call>ls <arg_key>dirPath</arg_key> <arg_value>backend</arg_value> </tool_call>",
        tool_calls=[("ls", {"dirPath": "backend"})],
    ),
    Case(
        "mixed_layout_flash",
        "vllm-mlx PR#42",
        "glm47",
        ALL,
        "<tool_call>get_weather\n<arg_key>city</arg_key><arg_value>Paris</arg_value></tool_call>",
        tool_calls=[("get_weather", {"city": "Paris"})],
    ),
    Case(
        "newline_between_key_and_value",
        "derived",
        "glm47",
        ALL,
        "<tool_call>get_weather<arg_key>city</arg_key>\n  <arg_value>Paris</arg_value>\n</tool_call>",
        tool_calls=[("get_weather", {"city": "Paris"})],
    ),
    Case(
        "glm45_layout_to_glm47_parser",
        "derived",
        "glm47",
        ALL,
        "\n<think>r</think>\nok\n" + call45("get_weather", city="Lima", days="1"),
        reasoning="r",
        content="ok",
        tool_calls=[("get_weather", {"city": "Lima", "days": 1})],
    ),
    Case(
        "glm47_layout_to_glm45_parser",
        "derived",
        "glm45",
        ALL,
        "<think>r</think>ok" + call47("get_weather", city="Lima") + call47("get_time"),
        reasoning="r",
        content="ok",
        tool_calls=[("get_weather", {"city": "Lima"}), ("get_time", {})],
    ),
    Case(
        "name_with_surrounding_space",
        "derived",
        "glm47",
        ALL,
        "<tool_call>  get_time \n </tool_call>",
        tool_calls=[("get_time", {})],
    ),
    # --- truncation -----------------------------------------------------------------------------
    Case(
        "truncated_in_value",
        "Ollama validateFinalGLM46ToolCall",
        "glm47",
        ALL,
        "Writing.<tool_call>write_file<arg_key>path</arg_key><arg_value>a.py</arg_value>"
        "<arg_key>content</arg_key><arg_value>import o",
        content="Writing.",
        finish_reason="length",
    ),
    Case(
        "truncated_in_name",
        "derived",
        "glm47",
        ALL,
        "Hmm.<tool_call>get_wea",
        content="Hmm.",
        finish_reason="length",
    ),
    Case(
        "truncated_in_second_call",
        "derived",
        "glm47",
        ALL,
        call47("search", query="a") + "<tool_call>search<arg_key>query</arg_key><arg_value>b",
        tool_calls=[("search", {"query": "a"})],
        finish_reason="length",
    ),
    Case(
        "truncated_typed_value",
        "derived",
        "glm47",
        ALL,
        "<tool_call>configure<arg_key>count</arg_key><arg_value>12",
        finish_reason="length",
        notes="no half-JSON: the buffered number is never sent",
    ),
    Case(
        "only_outer_close_missing",
        "Ollama glm46.go",
        "glm47",
        ALL,
        "<tool_call>get_weather<arg_key>city</arg_key><arg_value>Paris</arg_value>",
        tool_calls=[("get_weather", {"city": "Paris"})],
    ),
    Case(
        "only_outer_close_missing_then_eos",
        "Ollama glm46.go",
        "glm45",
        ALL,
        "<tool_call>get_weather\n<arg_key>city</arg_key>\n<arg_value>Paris</arg_value>\n<|observation|>",
        tool_calls=[("get_weather", {"city": "Paris"})],
    ),
    Case(
        "outer_close_missing_on_length",
        "derived",
        "glm47",
        ALL,
        "<tool_call>get_weather<arg_key>city</arg_key><arg_value>Paris</arg_value>",
        finish_reason="length",
    ),
    Case(
        "outer_close_missing_required_absent",
        "derived",
        "glm47",
        ALL,
        "<tool_call>write_file<arg_key>path</arg_key><arg_value>a</arg_value>",
    ),
    Case(
        "bare_zero_arg_name_at_eos",
        "derived",
        "glm47",
        ALL,
        "<tool_call>get_time<|observation|>",
        tool_calls=[("get_time", {})],
    ),
    # --- damaged markup -------------------------------------------------------------------------
    Case(
        "missing_arg_value_open",
        "vllm#49248",
        "glm47",
        ALL,
        "<tool_call>search<arg_key>query</arg_key>how many vacation days left</arg_value></tool_call>",
        tool_calls=[("search", {"query": "how many vacation days left"})],
    ),
    Case(
        "missing_arg_value_open_glm45",
        "vllm#49248",
        "glm45",
        ALL,
        "<tool_call>get_weather\n<arg_key>city</arg_key>\nParis</arg_value>\n<arg_key>days</arg_key>\n"
        "<arg_value>2</arg_value>\n</tool_call>",
        tool_calls=[("get_weather", {"city": "Paris", "days": 2})],
    ),
    Case(
        "missing_arg_key_open_fused",
        "vllm PR#47190",
        "glm47",
        ALL,
        "<tool_call>send_command_to_shellcommand</arg_key><arg_value>echo test</arg_value></tool_call>",
        tool_calls=[("send_command_to_shell", {"command": "echo test"})],
    ),
    Case(
        "missing_arg_key_open_second_pair",
        "derived",
        "glm47",
        ALL,
        "<tool_call>get_weather<arg_key>city</arg_key><arg_value>Paris</arg_value>days</arg_key>"
        "<arg_value>4</arg_value></tool_call>",
        tool_calls=[("get_weather", {"city": "Paris", "days": 4})],
    ),
    Case(
        "stray_value_close_after_name",
        "fw-ai-external/python-sdk#119",
        "glm47",
        ALL,
        "<tool_call>get_time</arg_value></tool_call>",
        tool_calls=[("get_time", {})],
    ),
    Case(
        "second_tool_call_instead_of_key",
        "getsigit/sigit PR#95",
        "glm47",
        ALL,
        "<tool_call>search<tool_call>query</arg_key><arg_value>x</arg_value></tool_call>",
        tool_calls=[("search", {"query": "x"})],
    ),
    Case(
        "json_arguments_instead_of_xml",
        "llama.cpp PR#15186",
        "glm45",
        ALL,
        '<tool_call>get_weather\n{"city": "Paris", "days": 2}\n</tool_call>',
        tool_calls=[("get_weather", {"city": "Paris", "days": 2})],
    ),
    Case(
        "nameless_call_skipped",
        "sglang PR#15754",
        "glm47",
        ALL,
        "A<tool_call><arg_key>k</arg_key><arg_value>v</arg_value></tool_call>B",
        content="AB",
    ),
    Case(
        "missing_close_before_next_call",
        "derived",
        "glm47",
        ALL,
        "<tool_call>search<arg_key>query</arg_key><arg_value>a</arg_value>" + call47("get_time"),
        tool_calls=[("search", {"query": "a"}), ("get_time", {})],
    ),
    Case(
        "responses_tool_shape",
        "vllm#39574",
        "glm47",
        RESPONSES_SHAPE,
        call47("get_weather", city="Rome", days="5"),
        tool_calls=[("get_weather", {"city": "Rome", "days": 5})],
    ),
    Case(
        "anthropic_tool_shape",
        "derived",
        "glm47",
        ANTHROPIC_SHAPE,
        call47("get_weather", city="007", days="5"),
        tool_calls=[("get_weather", {"city": "007", "days": 5})],
    ),
]
