"""What the stand-in answers: reasoning (when thinking), then text, or a call to a tool.

Like a model in an agent loop it calls a tool when tools are given, then answers from what the tool
returned. A shell tool gets a harmless command whose output a test can recognise. The requests of the
bench's `tools` workload get the workload's expected call, except a deterministic share of them
(`tool_error_rate`) that get a deliberately wrong one, so that `glm-serve bench` has something to
score offline: the wrong tool, a wrong value, a missing argument, arguments that are not JSON, or no
call at all.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

REASONING = "The user wants an answer. I will keep it short."
CONTENT = "Hello from the hosted stand-in."
JSON_CONTENT = '{"answer": "Hello from the hosted stand-in."}'
FILLER = "Stand-in text that fills the answer to the length asked for. "
# What the stand-in runs when it calls a shell tool: harmless, and its output ("42-from-mock-hosted")
# appears nowhere in the command, so a test can tell that the command really ran.
SHELL_COMMAND = "echo $((6*7))-from-mock-hosted"
_SHELL_KEYS = ("cmd", "command")
# The bench's tools workload: its expected calls are this stand-in's answer key.
TOOLS_WORKLOAD = Path(__file__).resolve().parents[1] / "bench" / "workloads" / "tools-v1.jsonl"
WRONG_KINDS = ("wrong_tool", "wrong_value", "missing_argument", "malformed_arguments", "no_call")


def example(schema: Any, key: str = "") -> Any:
    """A value valid for a (simple) JSON schema, for the stand-in's tool calls."""
    kind = schema.get("type") if isinstance(schema, dict) else None
    kind = kind[0] if isinstance(kind, list) else kind
    if isinstance(schema, dict) and schema.get("enum"):
        return schema["enum"][0]
    if key in _SHELL_KEYS and kind in ("string", None):
        return SHELL_COMMAND
    if key in _SHELL_KEYS and kind == "array":
        return ["bash", "-lc", SHELL_COMMAND]
    if kind == "object" and isinstance(schema, dict):
        return example_arguments(schema)
    return {"integer": 1, "number": 2, "boolean": True, "array": [], "null": None}.get(
        kind or "string", "example"
    )


def example_arguments(schema: Mapping[str, Any]) -> dict[str, Any]:
    """Arguments for a call: the required ones (all of them when the schema names none), as a model
    would leave optional knobs unset."""
    properties = schema.get("properties") or {}
    required = schema.get("required") or list(properties)
    return {k: example(v, k) for k, v in properties.items() if k in required}


@cache
def answer_key() -> dict[str, dict[str, Any]]:
    """The tools workload's expected calls, by the text of the user's request."""
    if not TOOLS_WORKLOAD.exists():
        return {}
    key = {}
    for line in TOOLS_WORKLOAD.read_text().splitlines():
        record = json.loads(line)
        key[record["messages"][-1]["content"]] = record["expect"]
    return key


def _concrete(expected: Any) -> Any:
    """A value that meets an expectation (`{"$contains": "paris"}` → "paris")."""
    if isinstance(expected, dict):
        if set(expected) == {"$contains"}:
            return expected["$contains"]
        return {k: _concrete(v) for k, v in expected.items()}
    if isinstance(expected, list):
        return [_concrete(v) for v in expected]
    return expected


def planned(message: str, error_rate: float) -> str | None:
    """The wrong answer the stand-in gives to a tools-workload request, or None for the right one."""
    digest = int.from_bytes(hashlib.sha256(message.encode()).digest()[:8], "big")
    if (digest % 10_000) / 10_000 >= error_rate:
        return None
    return WRONG_KINDS[(digest // 10_000) % len(WRONG_KINDS)]


class Reply:
    def __init__(
        self, body: dict[str, Any], *, tool_error_rate: float = 0.0, answer_tokens: int | None = None
    ):
        thinking = (body.get("thinking") or {}).get("type", "enabled")
        self.reasoning = REASONING if thinking == "enabled" else ""
        self.tools = [t for t in body.get("tools") or [] if t.get("type") == "function"]
        messages = body.get("messages") or [{}]
        result = messages[-1].get("content") if messages[-1].get("role") == "tool" else None
        calls = self.tools and body.get("tool_choice", "auto") != "none" and result is None
        self.name: str | None = None
        self.arguments = ""
        self.content = ""
        if calls:
            self._choose_call(str(messages[-1].get("content", "")), tool_error_rate)
        if self.name is None and not self.content:
            json_mode = (body.get("response_format") or {}).get("type") == "json_object"
            if result is not None:
                self.content = f"The tool returned: {str(result)[:200]}"
            elif json_mode:
                self.content = JSON_CONTENT
            elif images := _images(messages[-1]):
                self.content = f"I see {images} image{'s' if images > 1 else ''}."
            elif answer_tokens:
                self.content = (FILLER * (answer_tokens // 10 + 1))[: 6 * answer_tokens]
            else:
                self.content = CONTENT
        self.prompt_tokens = max(1, len(json.dumps(body.get("messages"), ensure_ascii=False)) // 4)
        self.id = time.strftime("%Y%m%d%H%M%S") + uuid.uuid4().hex[:16]
        self.created = int(time.time())
        self.model = str(body.get("model")).lower()

    def _choose_call(self, request: str, error_rate: float) -> None:
        by_name = {t["function"]["name"]: t["function"] for t in self.tools}
        expected = answer_key().get(request)
        if expected is None or expected["tool"] not in by_name:
            first = self.tools[0]["function"]
            self.name, args = first["name"], example_arguments(first.get("parameters") or {})
            self.arguments = json.dumps(args, ensure_ascii=False)
            return
        name, args = expected["tool"], _concrete(expected.get("arguments") or {})
        wrong = planned(request, error_rate)
        others = [n for n in by_name if n != name]
        if wrong == "no_call":
            self.content = "I would rather answer without a tool."
            return
        if wrong == "wrong_tool" or (wrong == "missing_argument" and not args):
            name = others[0]
            args = example_arguments(by_name[name].get("parameters") or {})
        elif wrong == "wrong_value" and args:
            first = next(iter(args))
            value = args[first]
            args[first] = (
                f"{value} (wrong)" if isinstance(value, str) else [] if isinstance(value, list) else 999
            )
        elif wrong == "missing_argument":
            required = (by_name[name].get("parameters") or {}).get("required") or list(args)
            args.pop(required[0], None)
        self.name = name
        self.arguments = json.dumps(args, ensure_ascii=False)
        if wrong == "malformed_arguments":
            self.arguments = self.arguments[: max(1, len(self.arguments) // 2)]

    @staticmethod
    def pieces(text: str) -> list[str]:
        """The stand-in's tokens: six characters each."""
        return [text[i : i + 6] for i in range(0, len(text), 6)]

    def call(self) -> dict[str, Any]:
        assert self.name is not None
        return {
            "id": f"call_{uuid.uuid4().hex[:24]}",
            "index": 0,
            "type": "function",
            "function": {"name": self.name, "arguments": self.arguments},
        }

    def usage(self, completion: int) -> dict[str, Any]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": completion,
            "total_tokens": self.prompt_tokens + completion,
            "prompt_tokens_details": {"cached_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": len(self.pieces(self.reasoning))},
        }

    def whole(self) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": self.content}
        if self.reasoning:
            message["reasoning_content"] = self.reasoning
        if self.name:
            message["tool_calls"] = [self.call()]
        completion = (
            len(self.pieces(self.reasoning)) + len(self.pieces(self.content)) + (5 if self.name else 0)
        )
        return {
            "id": self.id,
            "request_id": self.id,
            "created": self.created,
            "object": "chat.completion",
            "model": self.model,
            "choices": [
                {"index": 0, "message": message, "finish_reason": "tool_calls" if self.name else "stop"}
            ],
            "usage": self.usage(completion),
        }

    def chunk(self, choice: dict[str, Any], usage: dict[str, Any] | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.id,
            "created": self.created,
            "object": "chat.completion.chunk",
            "model": self.model,
            "choices": [choice],
        }
        if usage is not None:
            body["usage"] = usage
        return body


def _images(message: Mapping[str, Any]) -> int:
    """How many image_url parts a message holds (a vision request's)."""
    content = message.get("content")
    if not isinstance(content, list):
        return 0
    return sum(1 for p in content if isinstance(p, dict) and p.get("type") == "image_url")
