"""The doctor's model checks: a fixed set of requests on every wire, judged on structure, not wording.

Each request is deterministic (temperature 0, a seed, thinking off where the check is not about
thinking, short enums in schemas), so that the checks hold for any weights, the tiny random demo
included; the one check of sense (the capital of France) runs only for a real model.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import jsonschema

from .probe import Exchange, Probe

Status = Literal["ok", "warn", "fail", "skip"]
# GLM's markup, which a correct server never lets through into text a client shows.
LEAKED = re.compile(
    r"</?think>|</?tool_call>|</?arg_key>|</?arg_value>|<\|(?:user|assistant|observation|system)\|>"
)
GREEDY: dict[str, Any] = {"temperature": 0, "seed": 7}
OFF: dict[str, Any] = {"chat_template_kwargs": {"enable_thinking": False}}
HI = [{"role": "user", "content": "Say hello in one short sentence."}]
CITY = {
    "type": "object",
    "properties": {"city": {"type": "string", "enum": ["Paris", "Oslo"]}},
    "required": ["city"],
    "additionalProperties": False,
}
WEATHER = {
    "type": "function",
    "function": {"name": "get_weather", "description": "The weather in a city.", "parameters": CITY},
}
ANSWER = {
    "type": "object",
    "properties": {
        "answer": {"type": "string", "enum": ["yes", "no"]},
        "count": {"type": "integer", "minimum": 0, "maximum": 9},
    },
    "required": ["answer", "count"],
    "additionalProperties": False,
}
# A 1x1 PNG: the smallest image a vision model can be asked about.
PIXEL = (
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0g"
    "AAAABJRU5ErkJggg=="
)


@dataclass(frozen=True, slots=True)
class Check:
    group: str  # "box", "model"
    name: str
    status: Status
    detail: str
    fix: str = ""
    exchange: Exchange | None = None


class Failed(Exception):
    """A check's verdict that the server answered wrongly."""


def run_model_checks(probe: Probe, model: str, *, sense: bool) -> list[Check]:
    """Every model check against `probe`'s server, in order; one failing does not stop the rest."""
    checks: list[tuple[str, Callable[[Probe, str], tuple[Status, str, Exchange | None]]]] = [
        ("plain answer, thinking off", _plain_off),
        ("thinking on: reasoning split from the answer", _thinking_on),
        ("stream and whole answer agree", _streamed),
        ("forced tool call", _forced_call),
        ("JSON-schema answer", _json_answer),
        ("stop string", _stop_string),
        ("two-turn tool loop", _tool_loop),
        ("Messages wire (/v1/messages)", _messages),
        ("Responses wire (/v1/responses)", _responses),
        ("image question", _image),
    ]
    if sense:
        checks.append(("an answer that makes sense", _sense))
    out = []
    for name, check in checks:
        try:
            status, detail, exchange = check(probe, model)
        except Failed as failure:
            exchange = failure.args[1] if len(failure.args) > 1 else None
            status, detail = "fail", str(failure.args[0])
        out.append(
            Check("model", name, status, detail, _FIXES.get(name, "") if status == "fail" else "", exchange)
        )
    if not sense:
        out.append(Check("model", "an answer that makes sense", "skip", "the tiny demo's weights are random"))
    return out


_FIXES = {
    "plain answer, thinking off": "check --output-layout and the chat template the weights ship",
    "forced tool call": "serve the weights locally (only the local engine enforces tool_choice)",
    "JSON-schema answer": "serve the weights locally (only the local engine enforces json_schema)",
    "stop string": "report it: stop strings must end the answer",
}


def _ok(exchange: Exchange, path: str = "") -> dict[str, Any]:
    if exchange.status != 200 or not isinstance(exchange.answer, dict):
        raise Failed(f"HTTP {exchange.status} from {path or exchange.path}", exchange)
    return exchange.answer


def _message(exchange: Exchange) -> tuple[dict[str, Any], str | None]:
    answer = _ok(exchange)
    choice = answer["choices"][0]
    return choice["message"], choice.get("finish_reason")


def _clean(exchange: Exchange, *texts: str | None) -> None:
    for text in texts:
        if text and (leak := LEAKED.search(text)):
            raise Failed(f"GLM markup {leak.group(0)!r} leaked into the text", exchange)


def _chat(probe: Probe, model: str, **extra: Any) -> Exchange:
    body = {"model": model, "messages": HI, "max_tokens": 32, **GREEDY, **extra}
    return probe.post("/v1/chat/completions", body)


def _plain_off(probe: Probe, model: str) -> tuple[Status, str, Exchange]:
    exchange = _chat(probe, model, **OFF)
    message, _ = _message(exchange)
    _clean(exchange, message.get("content"), message.get("reasoning_content"))
    if message.get("reasoning_content"):
        raise Failed("thinking was off, yet the answer carries reasoning", exchange)
    if not message.get("content"):
        raise Failed("no content", exchange)
    return "ok", f"{len(message['content'])} characters of content, no reasoning", exchange


def _thinking_on(probe: Probe, model: str) -> tuple[Status, str, Exchange]:
    exchange = _chat(probe, model, chat_template_kwargs={"enable_thinking": True}, max_tokens=64)
    message, _ = _message(exchange)
    reasoning, content = message.get("reasoning_content") or "", message.get("content") or ""
    _clean(exchange, content, reasoning)
    if not (reasoning or content):
        raise Failed("neither reasoning nor content", exchange)
    if reasoning and reasoning.strip() == content.strip():
        raise Failed("the same text came back as reasoning and as content", exchange)
    return "ok", f"{len(reasoning)} characters of reasoning, {len(content)} of content", exchange


def _streamed(probe: Probe, model: str) -> tuple[Status, str, Exchange]:
    whole, _ = _message(_chat(probe, model, **OFF))
    exchange = _chat(probe, model, stream=True, **OFF)
    if exchange.status != 200 or not isinstance(exchange.answer, list):
        raise Failed(f"HTTP {exchange.status} for a stream", exchange)
    if exchange.answer[-1:] != ["[DONE]"]:
        raise Failed("the stream did not end with [DONE]", exchange)
    text = "".join(
        (c.get("delta") or {}).get("content") or ""
        for chunk in exchange.answer
        if isinstance(chunk, dict)
        for c in chunk.get("choices") or ()
    )
    if text != (whole.get("content") or ""):
        raise Failed(
            "the streamed content differs from the whole answer to the same greedy request", exchange
        )
    return "ok", f"{len(exchange.answer)} events, the same content", exchange


def _forced(probe: Probe, model: str) -> tuple[Exchange, dict[str, Any]]:
    exchange = _chat(probe, model, tools=[WEATHER], tool_choice="required", max_tokens=64, **OFF)
    message, finish = _message(exchange)
    calls = message.get("tool_calls") or []
    if not calls:
        raise Failed("tool_choice required, but no tool call came back", exchange)
    for call in calls:
        try:
            arguments = json.loads(call["function"]["arguments"])
            jsonschema.validate(arguments, CITY)
        except (ValueError, jsonschema.ValidationError) as exc:
            raise Failed(
                f"the call's arguments do not fit its schema: {exc}".splitlines()[0], exchange
            ) from exc
    if finish != "tool_calls":
        raise Failed(f"finish_reason {finish!r}, not 'tool_calls'", exchange)
    _clean(exchange, message.get("content"))
    return exchange, message


def _forced_call(probe: Probe, model: str) -> tuple[Status, str, Exchange]:
    exchange, message = _forced(probe, model)
    calls = message["tool_calls"]
    return "ok", f"{len(calls)} call(s) to {calls[0]['function']['name']}, arguments valid", exchange


def _json_answer(probe: Probe, model: str) -> tuple[Status, str, Exchange]:
    fmt = {"type": "json_schema", "json_schema": {"name": "answer", "schema": ANSWER, "strict": True}}
    exchange = _chat(probe, model, response_format=fmt, max_tokens=64, **OFF)
    message, _ = _message(exchange)
    try:
        jsonschema.validate(json.loads(message.get("content") or ""), ANSWER)
    except (ValueError, jsonschema.ValidationError) as exc:
        raise Failed(f"the answer does not validate: {exc}".splitlines()[0], exchange) from exc
    return "ok", "valid against its schema", exchange


def _stop_string(probe: Probe, model: str) -> tuple[Status, str, Exchange | None]:
    first = _chat(probe, model, **OFF)
    text = _message(first)[0].get("content") or ""
    window = next(
        (
            text[i : i + 3]
            for i in range(len(text) // 3, len(text) - 3)
            if text[i : i + 3].strip() == text[i : i + 3]
        ),
        None,
    )
    if window is None:
        return "skip", "the answer is too short to take a stop string from", first
    exchange = _chat(probe, model, stop=[window], **OFF)
    message, finish = _message(exchange)
    expected = text[: text.find(window)]
    if message.get("content") != expected or finish != "stop":
        raise Failed(f"stop {window!r}: expected {expected!r} and finish 'stop'", exchange)
    return "ok", f"the answer ended before {window!r}", exchange


def _tool_loop(probe: Probe, model: str) -> tuple[Status, str, Exchange]:
    _, message = _forced(probe, model)
    call = message["tool_calls"][0]
    history = [
        *HI,
        {"role": "assistant", "content": message.get("content"), "tool_calls": [call]},
        {"role": "tool", "tool_call_id": call["id"], "content": '{"weather": "sunny", "celsius": 21}'},
    ]
    body = {"model": model, "messages": history, "tools": [WEATHER], "max_tokens": 32, **GREEDY, **OFF}
    exchange = probe.post("/v1/chat/completions", body)
    answer, _ = _message(exchange)
    _clean(exchange, answer.get("content"))
    return "ok", "the tool's result was taken and answered", exchange


def _messages(probe: Probe, model: str) -> tuple[Status, str, Exchange]:
    body = {
        "model": model,
        "max_tokens": 32,
        "messages": HI,
        "thinking": {"type": "disabled"},
        "temperature": 0,
    }
    exchange = probe.post("/v1/messages", body)
    answer = _ok(exchange)
    kinds = [block.get("type") for block in answer.get("content") or ()]
    if answer.get("type") != "message" or not set(kinds) <= {"text", "thinking", "tool_use"}:
        raise Failed(f"not a Messages answer (blocks {kinds})", exchange)
    _clean(exchange, *(block.get("text") for block in answer["content"]))
    return "ok", f"blocks {kinds}, stop_reason {answer.get('stop_reason')}", exchange


def _responses(probe: Probe, model: str) -> tuple[Status, str, Exchange]:
    body = {
        "model": model,
        "input": HI[0]["content"],
        "max_output_tokens": 32,
        "reasoning": {"effort": "none"},
    }
    exchange = probe.post("/v1/responses", {**body, "temperature": 0})
    answer = _ok(exchange)
    if answer.get("status") not in ("completed", "incomplete") or not answer.get("output"):
        raise Failed(
            f"status {answer.get('status')!r} with {len(answer.get('output') or [])} items", exchange
        )
    texts = [
        p.get("text") for item in answer["output"] for p in item.get("content") or () if isinstance(p, dict)
    ]
    _clean(exchange, *texts)
    return "ok", f"{answer['status']}, items {[i['type'] for i in answer['output']]}", exchange


def _image(probe: Probe, model: str) -> tuple[Status, str, Exchange]:
    content = [
        {"type": "text", "text": "What colour is this?"},
        {"type": "image_url", "image_url": {"url": PIXEL}},
    ]
    exchange = _chat(probe, model, messages=[{"role": "user", "content": content}], **OFF)
    if exchange.status == 400 and "text only" in json.dumps(exchange.answer):
        return "skip", "a text model (it refuses images clearly)", exchange
    message, _ = _message(exchange)
    _clean(exchange, message.get("content"))
    return "ok", "a vision model answered about the image", exchange


def _sense(probe: Probe, model: str) -> tuple[Status, str, Exchange]:
    question = [{"role": "user", "content": "What is the capital of France? Answer with one word."}]
    exchange = _chat(probe, model, messages=question, **OFF)
    message, _ = _message(exchange)
    if "paris" not in (message.get("content") or "").lower():
        raise Failed("asked the capital of France, it did not name Paris", exchange)
    return "ok", "named Paris", exchange
