"""An offline stand-in of the hosted BigModel / Z.ai chat API: its auth, stream shape, errors and codes.

    glm-serve mock-hosted --port 8400 --api-key test.key --scenario ok

It answers like the hosted API (../shared/reference/hosted_api.md): `Authorization: Bearer <key>`,
`{"error": {"code": "1302", "message": …}}` bodies with the documented HTTP statuses, SSE chunks that
carry `role` on every delta, usage on the finish chunk, and tool calls whole per chunk (or streamed
with `tool_stream`). A scenario is chosen per server (`--scenario`) or per request (the
`x-mock-scenario` header); `NAME:N` fails only the first N requests, so retries can be tested.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from ..http import sse

# The hosted API's model ids (hosted_api.md §3): the stand-in keeps its own list, as the real service
# does, so a model our backend maps wrongly is refused here as it would be there.
MODELS = (
    "glm-5.1",
    "glm-5-turbo",
    "glm-5",
    "glm-4.7",
    "glm-4.7-flash",
    "glm-4.7-flashx",
    "glm-4.6",
    "glm-4.5",
    "glm-4.5-air",
    "glm-4.5-x",
    "glm-4.5-airx",
    "glm-4.5-flash",
)
SCENARIOS = (
    "ok",
    "rate_limit",
    "balance",
    "overload",
    "server_error",
    "slow_first_byte",
    "drop_mid_stream",
    "content_filter",
    "network_error",
)

# (HTTP status, business code, message) of the failures a scenario produces before any output.
_FAILURES = {
    "rate_limit": (
        429,
        "1302",
        "High concurrency usage of this API, please reduce concurrency or contact customer "
        "service to increase limits",
    ),
    "balance": (429, "1113", "Insufficient balance or no resource package. Please recharge."),
    "overload": (429, "1305", "The service may be temporarily overloaded, please try again later"),
    "server_error": (500, "500", "Internal Error"),
}
REASONING = "The user wants an answer. I will keep it short."
CONTENT = "Hello from the hosted stand-in."
JSON_CONTENT = '{"answer": "Hello from the hosted stand-in."}'


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


# What the stand-in runs when it calls a shell tool: harmless, and its output ("42-from-mock-hosted")
# appears nowhere in the command, so a test can tell that the command really ran.
SHELL_COMMAND = "echo $((6*7))-from-mock-hosted"
_SHELL_KEYS = ("cmd", "command")


def _example(schema: Any, key: str = "") -> Any:
    """A value valid for a (simple) JSON schema, for the stand-in's tool calls."""
    kind = schema.get("type") if isinstance(schema, dict) else None
    kind = kind[0] if isinstance(kind, list) else kind
    if isinstance(schema, dict) and schema.get("enum"):
        return schema["enum"][0]
    if key in _SHELL_KEYS and kind in ("string", None):
        return SHELL_COMMAND
    if key in _SHELL_KEYS and kind == "array":
        return ["bash", "-lc", SHELL_COMMAND]
    return {"integer": 1, "number": 1.5, "boolean": True, "array": [], "object": {}, "null": None}.get(
        kind or "string", "example"
    )


def _tool_args(tool: dict[str, Any]) -> dict[str, Any]:
    """Arguments for a call: the required ones (all of them when the schema names none), as a model
    would leave optional knobs unset."""
    params = tool.get("function", {}).get("parameters") or {}
    properties = params.get("properties") or {}
    required = params.get("required") or list(properties)
    return {k: _example(v, k) for k, v in properties.items() if k in required}


def _validate(body: dict[str, Any]) -> JSONResponse | None:
    model = str(body.get("model", "")).lower()
    if model not in MODELS:
        return _error(400, "1211", "Unknown Model, please check the model code.")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return _error(400, "1214", "Input cannot be empty")
    if any(isinstance(m, dict) and m.get("role") == "developer" for m in messages):
        return _error(400, "1214", "Incorrect role information")
    temperature = body.get("temperature")
    if temperature is not None and not 0 <= float(temperature) <= 1:
        return _error(400, "1210", "The temperature parameter is illegal.")
    top_p = body.get("top_p")
    if top_p is not None and not 0.01 <= float(top_p) <= 1:
        return _error(400, "1214", "top_p parameter is illegal.")
    stop = body.get("stop")
    if isinstance(stop, list) and len(stop) > 1:
        return _error(400, "1214", "Currently, only one stop word is supported.")
    if int(body.get("max_tokens") or 1) > 131072:
        return _error(400, "1214", "max_tokens parameter is illegal.")
    if body.get("tool_choice", "auto") not in ("auto", "none"):
        return _error(400, "1214", "Tool choice must be auto")
    if (body.get("response_format") or {}).get("type", "text") not in ("text", "json_object"):
        return _error(400, "1214", "response_format type must be text or json_object")
    return None


class _Reply:
    """What the stand-in answers: reasoning (when thinking), then text or a call to the first tool."""

    def __init__(self, body: dict[str, Any]) -> None:
        thinking = (body.get("thinking") or {}).get("type", "enabled")
        self.reasoning = REASONING if thinking == "enabled" else ""
        tools = [t for t in body.get("tools") or [] if t.get("type") == "function"]
        messages = body.get("messages") or [{}]
        # Like a model in an agent loop: call a tool, then answer from what the tool returned.
        result = messages[-1].get("content") if messages[-1].get("role") == "tool" else None
        calls = tools and body.get("tool_choice", "auto") != "none" and result is None
        self.tool = tools[0] if calls else None
        json_mode = (body.get("response_format") or {}).get("type") == "json_object"
        self.content = (
            ""
            if self.tool
            else f"The tool returned: {str(result)[:200]}"
            if result is not None
            else JSON_CONTENT
            if json_mode
            else CONTENT
        )
        self.prompt_tokens = max(1, len(json.dumps(body.get("messages"), ensure_ascii=False)) // 4)
        self.id = time.strftime("%Y%m%d%H%M%S") + uuid.uuid4().hex[:16]
        self.created = int(time.time())
        self.model = str(body.get("model")).lower()

    def pieces(self, text: str) -> list[str]:
        return [text[i : i + 6] for i in range(0, len(text), 6)]

    def call(self) -> dict[str, Any]:
        assert self.tool is not None
        return {
            "id": f"call_{uuid.uuid4().hex[:24]}",
            "index": 0,
            "type": "function",
            "function": {
                "name": self.tool["function"]["name"],
                "arguments": json.dumps(_tool_args(self.tool), ensure_ascii=False),
            },
        }

    def usage(self, completion: int) -> dict[str, Any]:
        reasoning = len(self.pieces(self.reasoning))
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": completion,
            "total_tokens": self.prompt_tokens + completion,
            "prompt_tokens_details": {"cached_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": reasoning},
        }

    def whole(self) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": self.content}
        if self.reasoning:
            message["reasoning_content"] = self.reasoning
        if self.tool:
            message["tool_calls"] = [self.call()]
        completion = (
            len(self.pieces(self.reasoning)) + len(self.pieces(self.content)) + (5 if self.tool else 0)
        )
        return {
            "id": self.id,
            "request_id": self.id,
            "created": self.created,
            "object": "chat.completion",
            "model": self.model,
            "choices": [
                {"index": 0, "message": message, "finish_reason": "tool_calls" if self.tool else "stop"}
            ],
            "usage": self.usage(completion),
        }

    def chunk(self, choice: dict[str, Any], usage: dict[str, Any] | None = None) -> bytes:
        body: dict[str, Any] = {
            "id": self.id,
            "created": self.created,
            "object": "chat.completion.chunk",
            "model": self.model,
            "choices": [choice],
        }
        if usage is not None:
            body["usage"] = usage
        return sse.encode(json.dumps(body, ensure_ascii=False))


async def _stream(reply: _Reply, scenario: str, tool_stream: bool) -> AsyncIterator[bytes]:
    count = 0
    for piece in reply.pieces(reply.reasoning):
        count += 1
        yield reply.chunk({"index": 0, "delta": {"role": "assistant", "reasoning_content": piece}})
        if scenario == "drop_mid_stream" and count == 3:
            # Abandon the response mid-body: the client sees the connection break, not an error body.
            raise ConnectionAbortedError("stand-in: connection dropped mid-stream")
    for piece in reply.pieces(reply.content):
        count += 1
        yield reply.chunk({"index": 0, "delta": {"role": "assistant", "content": piece}})
    finish = "tool_calls" if reply.tool else "stop"
    if scenario == "content_filter":
        finish = "sensitive"
    elif scenario == "network_error":
        finish = "network_error"
    elif reply.tool:
        call = reply.call()
        if tool_stream:
            args = call["function"]["arguments"]
            first = dict(call, function={"name": call["function"]["name"], "arguments": ""})
            yield reply.chunk({"index": 0, "delta": {"tool_calls": [first]}})
            for i in range(0, len(args), 5):
                yield reply.chunk(
                    {
                        "index": 0,
                        "delta": {"tool_calls": [{"index": 0, "function": {"arguments": args[i : i + 5]}}]},
                    }
                )
        else:
            yield reply.chunk({"index": 0, "delta": {"tool_calls": [call]}})
        count += 5
    yield reply.chunk(
        {"index": 0, "finish_reason": finish, "delta": {"role": "assistant", "content": ""}},
        reply.usage(count),
    )
    yield sse.DONE


def create_standin(api_key: str = "test.key", scenario: str = "ok", slow_seconds: float = 2.0) -> FastAPI:
    """The stand-in app. Every request counts against its scenario's `NAME:N` budget of failures."""
    app = FastAPI(title="hosted GLM API stand-in", docs_url=None, redoc_url=None)
    hits: dict[str, int] = {}
    app.state.requests = []  # bodies received, for tests
    app.state.scenario = scenario  # tests switch it between requests

    def scenario_of(request: Request) -> str:
        chosen = str(request.headers.get("x-mock-scenario", app.state.scenario))
        name, _, limit = chosen.partition(":")
        hits[chosen] = hits.get(chosen, 0) + 1
        if limit and hits[chosen] > int(limit):
            return "ok"
        return name

    def authorised(request: Request) -> bool:
        return request.headers.get("authorization", "") == f"Bearer {api_key}"

    async def chat(request: Request) -> Response:
        if not authorised(request):
            return _error(
                401,
                "1002",
                "Authorization Token is invalid, please ensure that the Authorization "
                "Token is correctly provided.",
            )
        try:
            body = await request.json()
        except ValueError:
            return _error(400, "1214", "Invalid JSON")
        app.state.requests.append(body)
        if (invalid := _validate(body)) is not None:
            return invalid
        name = scenario_of(request)
        if name in _FAILURES:
            return _error(*_FAILURES[name])
        if name == "slow_first_byte":
            await asyncio.sleep(slow_seconds)
        reply = _Reply(body)
        if not body.get("stream"):
            return JSONResponse(reply.whole())
        return StreamingResponse(
            _stream(reply, name, bool(body.get("tool_stream"))), media_type="text/event-stream;charset=UTF-8"
        )

    async def models(request: Request) -> Response:
        if not authorised(request):
            return _error(401, "1002", "Authorization Token is invalid.")
        return JSONResponse(
            {
                "object": "list",
                "data": [
                    {"id": m, "object": "model", "created": 1766332800, "owned_by": "z-ai"} for m in MODELS
                ],
            }
        )

    for prefix in ("/api/paas/v4", "/api/coding/paas/v4"):
        app.add_api_route(prefix + "/chat/completions", chat, methods=["POST"])
        app.add_api_route(prefix + "/models", models, methods=["GET"])
    return app
