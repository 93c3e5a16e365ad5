"""Prompt rendering: our normalisation through GLM's official templates, and our template against them."""

from __future__ import annotations

from typing import Any

import pytest

from server.backends.local.prompt import PromptRenderer, profile
from server.core.request import ChatRequest
from server.openai import convert, schema
from tests.conftest import REFERENCE, tiny_model_dir

TEMPLATES = REFERENCE / "chat_templates"
GLM45 = TEMPLATES / "glm-4.5-and-4.6.jinja"
GLM47 = TEMPLATES / "glm-4.7-flash.jinja"
needs_reference = pytest.mark.skipif(
    not GLM47.exists() or not GLM45.exists(), reason="official templates (../shared/reference) not present"
)

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather.",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
            },
        },
    }
]
# OpenAI wire shapes, exactly as clients send them: arguments as a JSON string, content null.
TOOL_LOOP = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Weather in Paris?"},
    {
        "role": "assistant",
        "content": None,
        "reasoning_content": "Need the tool.",
        "tool_calls": [
            {
                "id": "c1",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city": "Paris", "days": 2}'},
            }
        ],
    },
    {"role": "tool", "tool_call_id": "c1", "content": '{"temp": 20}'},
    {"role": "tool", "tool_call_id": "c1", "content": '{"temp": 21}'},
]


def _request(messages: list[dict[str, Any]], **kwargs: Any) -> ChatRequest:
    return convert.chat_request(schema.ChatCompletionRequest(model="m", messages=messages, **kwargs))


def _renderer(template: str | None = None) -> PromptRenderer:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_dir())
    if template is not None:
        tok.chat_template = template
    return PromptRenderer(tok)


@needs_reference
def test_glm45_tool_loop_renders_as_documented() -> None:
    prompt = _renderer(GLM45.read_text()).render(_request(TOOL_LOOP, tools=TOOLS))
    tail = prompt.text.split("</tools>", 1)[1]
    assert tail.endswith(
        "<|system|>\nBe brief.<|user|>\nWeather in Paris?<|assistant|>\n<think>Need the tool.</think>\n"
        "<tool_call>get_weather\n<arg_key>city</arg_key>\n<arg_value>Paris</arg_value>\n"
        "<arg_key>days</arg_key>\n<arg_value>2</arg_value>\n</tool_call><|observation|>\n"
        '<tool_response>\n{"temp": 20}\n</tool_response>\n<tool_response>\n{"temp": 21}\n</tool_response>'
        "<|assistant|>"
    )
    assert "None" not in tail  # null content must not render as the text "None"
    assert prompt.text.startswith("[gMASK]<sop><|system|>\n# Tools")
    assert prompt.reasoning == "optional"  # GLM-4.5 writes <think> itself, or answers directly


@needs_reference
def test_glm47_tool_loop_renders_as_documented() -> None:
    prompt = _renderer(GLM47.read_text()).render(_request(TOOL_LOOP, tools=TOOLS))
    assert prompt.text.split("</tool_call>", 1)[1].startswith("<|system|>Be brief.")
    assert prompt.text.endswith(
        "<|system|>Be brief.<|user|>Weather in Paris?<|assistant|><think>Need the tool.</think>"
        "<tool_call>get_weather<arg_key>city</arg_key><arg_value>Paris</arg_value><arg_key>days</arg_key>"
        '<arg_value>2</arg_value></tool_call><|observation|><tool_response>{"temp": 20}</tool_response>'
        '<tool_response>{"temp": 21}</tool_response><|assistant|><think>'
    )
    assert prompt.starts_in_reasoning and prompt.reasoning == "open"


@needs_reference
def test_thinking_off_closes_the_think_block() -> None:
    off = {"chat_template_kwargs": {"enable_thinking": False}}
    p47 = _renderer(GLM47.read_text()).render(_request([{"role": "user", "content": "Hi"}], **off))
    assert p47.text.endswith("<|user|>Hi<|assistant|></think>") and not p47.starts_in_reasoning
    p45 = _renderer(GLM45.read_text()).render(_request([{"role": "user", "content": "Hi"}], **off))
    assert p45.text.endswith("<|user|>\nHi/nothink<|assistant|>\n<think></think>")
    assert p45.reasoning == p47.reasoning == "closed"


INTERLEAVED = [
    {"role": "user", "content": "First?"},
    {"role": "assistant", "content": "One.", "reasoning_content": "old thought"},
    {"role": "user", "content": "Second?"},
    {
        "role": "assistant",
        "content": "",
        "reasoning_content": "new thought",
        "tool_calls": [
            {"id": "c", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}
        ],
    },
    {"role": "tool", "tool_call_id": "c", "content": "sunny"},
]


@needs_reference
def test_interleaved_thinking_keeps_the_current_loops_reasoning() -> None:
    renderer = _renderer(GLM47.read_text())
    text = renderer.render(_request(INTERLEAVED, tools=TOOLS)).text
    assert "<think>new thought</think><tool_call>get_weather</tool_call>" in text
    assert "old thought" not in text  # cleared: it belongs to a turn before the last user message
    kept = renderer.render(
        _request(INTERLEAVED, tools=TOOLS, thinking={"type": "enabled", "clear_thinking": False})
    ).text
    assert "<think>old thought</think>One." in kept


CONVERSATIONS = [
    [{"role": "user", "content": "Hi"}],
    TOOL_LOOP,
    INTERLEAVED,
    [
        {"role": "system", "content": "S"},
        {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
        {"role": "assistant", "content": "<think>inline</think>\nanswer"},
        {"role": "user", "content": "again"},
    ],
    [
        {"role": "user", "content": "中文 and 한국어"},
        {
            "role": "assistant",
            "content": "ok",
            "tool_calls": [
                {
                    "id": "x",
                    "type": "function",
                    "function": {
                        "name": "get_weather",
                        "arguments": '{"city": "北京", "o": {"a": [1, null]}}',
                    },
                }
            ],
        },
    ],
]


@needs_reference
@pytest.mark.parametrize("messages", CONVERSATIONS)
@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"chat_template_kwargs": {"enable_thinking": False}},
        {"chat_template_kwargs": {"clear_thinking": False}},
    ],
)
@pytest.mark.parametrize("tools", [None, TOOLS])
def test_our_tiny_template_matches_the_official_glm47(
    messages: list[dict[str, Any]], kwargs: dict[str, Any], tools: list[dict[str, Any]] | None
) -> None:
    req = _request(messages, tools=tools, **kwargs)
    assert _renderer().render_text(req) == _renderer(GLM47.read_text()).render_text(req)


def test_our_tiny_template_reads_as_glm47() -> None:
    from transformers import AutoTokenizer

    tiny = profile(AutoTokenizer.from_pretrained(tiny_model_dir()))
    assert (tiny.layout, tiny.thinking, tiny.images) == ("glm47", "opened", False)


def test_prompt_tokens_have_no_extra_bos_and_keep_tags_whole() -> None:
    renderer = _renderer()
    prompt = renderer.render(_request([{"role": "user", "content": "Hi"}]))
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_dir())
    assert prompt.token_ids[:2] == tok.convert_tokens_to_ids(["[gMASK]", "<sop>"])
    assert prompt.token_ids[-1] == tok.convert_tokens_to_ids("<think>")
    assert tok.decode(prompt.token_ids) == prompt.text


def test_anthropic_tool_loop_renders_as_glm_expects() -> None:
    from server.anthropic import convert as anthropic_convert
    from server.anthropic import schema as anthropic_schema

    body = anthropic_schema.MessagesRequest.model_validate(
        {
            "model": "m",
            "max_tokens": 64,
            "system": "Be brief.",
            "tools": [
                {
                    "name": "get_weather",
                    "description": "Weather.",
                    "input_schema": TOOLS[0]["function"]["parameters"],
                }
            ],
            "messages": [
                {"role": "user", "content": "Weather in Paris?"},
                {
                    "role": "assistant",
                    "content": [
                        {"type": "thinking", "thinking": "Need the tool.", "signature": "s"},
                        {
                            "type": "tool_use",
                            "id": "t1",
                            "name": "get_weather",
                            "input": {"city": "Paris", "days": 2},
                        },
                    ],
                },
                {
                    "role": "user",
                    "content": [{"type": "tool_result", "tool_use_id": "t1", "content": '{"temp": 20}'}],
                },
            ],
        }
    )
    text = _renderer().render_text(anthropic_convert.chat_request(body))
    assert text.endswith(
        "<|system|>Be brief.<|user|>Weather in Paris?<|assistant|><think>Need the tool.</think>"
        "<tool_call>get_weather<arg_key>city</arg_key><arg_value>Paris</arg_value><arg_key>days</arg_key>"
        '<arg_value>2</arg_value></tool_call><|observation|><tool_response>{"temp": 20}</tool_response>'
        "<|assistant|><think>"
    )


@needs_reference
@pytest.mark.parametrize(
    ("sent", "rendered"),
    [
        (
            '{"city": "Paris"}{"days": 2}',
            "<arg_key>city</arg_key><arg_value>Paris</arg_value><arg_key>days</arg_key><arg_value>2</arg_value>",
        ),
        (
            '{"city": "Paris", "days": 2, "note": "cut o',
            "<arg_key>city</arg_key><arg_value>Paris</arg_value><arg_key>days</arg_key><arg_value>2</arg_value>",
        ),
        ("not json at all", ""),
        ("[1, 2]", ""),
    ],
)
def test_history_arguments_that_are_not_one_json_object_still_render(sent: str, rendered: str) -> None:
    """The model wrote that call, so its turn is never refused: what parses of the text is rendered, and
    the text itself is kept for the wires that take text (the hosted and upstream backends)."""
    loop = [dict(m) for m in TOOL_LOOP]
    loop[2] = {
        **TOOL_LOOP[2],
        "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": sent}}
        ],
    }
    req = _request(loop, tools=TOOLS)
    (call,) = req.messages[2].tool_calls
    assert call.text == sent and call.arguments_json() == sent
    prompt = _renderer(GLM47.read_text()).render(req)
    assert f"<think>Need the tool.</think><tool_call>get_weather{rendered}</tool_call>" in prompt.text


def _anthropic_text(messages: list[dict[str, Any]]) -> str:
    from server.anthropic import convert as anthropic_convert
    from server.anthropic import schema as anthropic_schema

    body = anthropic_schema.MessagesRequest.model_validate(
        {"model": "m", "max_tokens": 64, "system": "Be brief.", "messages": messages}
    )
    return _renderer().render_text(anthropic_convert.chat_request(body))


REMINDER = "<system-reminder>The todo list is empty.</system-reminder>"
CALL = {"type": "tool_use", "id": "t1", "name": "ls", "input": {}}
RESULT = {"type": "tool_result", "tool_use_id": "t1", "content": "a.py"}


def test_claude_codes_mid_conversation_system_messages_open_the_next_user_turn() -> None:
    """Never a <|system|> turn in mid-conversation: the reminder opens the following user turn, and the
    turns before it render as they did without it (the prefix cache keeps hitting)."""
    before = [
        {"role": "user", "content": "List files."},
        {"role": "assistant", "content": [CALL]},
        {"role": "user", "content": [RESULT]},
        {"role": "assistant", "content": "One file."},
    ]
    plain = _anthropic_text([*before, {"role": "user", "content": "Thanks."}])
    reminded = _anthropic_text(
        [*before, {"role": "system", "content": REMINDER}, {"role": "user", "content": "Thanks."}]
    )
    assert reminded.count("<|system|>") == plain.count("<|system|>") == 1  # the real system prompt only
    assert reminded.endswith(f"<|assistant|></think>One file.<|user|>{REMINDER}\nThanks.<|assistant|><think>")
    assert reminded.split(REMINDER)[0] == plain.split("Thanks.")[0]
    # Between a tool result and the next assistant turn (as Claude Code sends it): it joins that user
    # turn after the observations, in a block list with other text.
    mid = _anthropic_text(
        [
            {"role": "user", "content": "List files."},
            {"role": "assistant", "content": [CALL]},
            {"role": "system", "content": [{"type": "text", "text": REMINDER}]},
            {"role": "user", "content": [RESULT, {"type": "text", "text": "Go on."}]},
        ]
    )
    assert mid.endswith(f"<tool_response>a.py</tool_response><|user|>{REMINDER}\nGo on.<|assistant|><think>")
    # Last, with no user turn after it: it closes the last user turn.
    last = _anthropic_text([{"role": "user", "content": "Hi."}, {"role": "system", "content": REMINDER}])
    assert last.endswith(f"<|user|>Hi.\n{REMINDER}<|assistant|><think>")


def test_empty_text_blocks_render_no_empty_turn() -> None:
    empty = [{"type": "text", "text": "", "cache_control": {"type": "ephemeral"}}]
    text = _anthropic_text(
        [
            {"role": "user", "content": "List files."},
            {"role": "assistant", "content": [CALL]},
            {"role": "user", "content": [RESULT, *empty]},
            {"role": "assistant", "content": "Done."},
            {"role": "user", "content": [*empty, {"type": "text", "text": "Thanks."}, *empty]},
        ]
    )
    assert "<|user|><|" not in text and text.count("<|user|>") == 2
    assert text.endswith(
        "<tool_response>a.py</tool_response><|assistant|></think>Done.<|user|>Thanks.<|assistant|><think>"
    )
