"""An offline stand-in of the hosted BigModel / Z.ai chat API: its auth, stream shape, errors and codes.

    glm-serve mock-hosted --port 8400 --api-key test.key --scenario ok

It answers like the hosted API as its documentation describes it: `Authorization: Bearer <key>`,
`{"error": {"code": "1302", "message": …}}` bodies with the documented HTTP statuses, SSE chunks that
carry `role` on every delta, usage on the finish chunk, and tool calls whole per chunk (or streamed
with `tool_stream`). A scenario is chosen per server (`--scenario`) or per request (the
`x-mock-scenario` header); `NAME:N` fails only the first N requests, so retries can be tested.
`--ttft-ms` / `--itl-ms` make it as slow as a real server (latency.py), `--answer-tokens` as long-winded,
and it answers the bench's tools workload right or, for `--tool-error-rate` of it, wrong (reply.py).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from ..core import releases
from ..http import sse
from . import STANDIN_HEADER
from .latency import Latency
from .reply import Reply

SCENARIOS = (
    "ok",
    "rate_limit",
    "rate_limit_wait",
    "balance",
    "overload",
    "server_error",
    "slow_first_byte",
    "drop_mid_stream",
    "content_filter",
    "network_error",
)

# (HTTP status, business code, message) of the failures a scenario produces before any output.
_RATE_LIMIT = (
    429,
    "1302",
    "High concurrency usage of this API, please reduce concurrency or contact customer service to "
    "increase limits",
)
_FAILURES = {
    "rate_limit": _RATE_LIMIT,
    "balance": (429, "1113", "Insufficient balance or no resource package. Please recharge."),
    "overload": (429, "1305", "The service may be temporarily overloaded, please try again later"),
    "server_error": (500, "500", "Internal Error"),
    "rate_limit_wait": _RATE_LIMIT,  # with a Retry-After of RETRY_AFTER seconds
}
RETRY_AFTER = 30


EMBEDDING_MODELS = ("embedding-3", "embedding-2")
IMAGE_MODELS = ("cogview-4", "cogview-4-250304", "cogview-3-flash")


def _vector(text: str, size: int) -> list[float]:
    """A unit vector that depends only on the text (the same text, the same embedding)."""
    seed = hashlib.sha256(text.encode()).digest()
    raw = [((seed[i % 32] ^ (i * 131)) % 255) / 127.0 - 1.0 for i in range(size)]
    norm = math.sqrt(sum(x * x for x in raw)) or 1.0
    return [x / norm for x in raw]


def _error(status: int, code: str, message: str, retry_after: int | None = None) -> JSONResponse:
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status, headers=headers)


def _validate(body: dict[str, Any]) -> JSONResponse | None:
    model = str(body.get("model", "")).lower()
    if model not in releases.hosted_ids():
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
    release = releases.find(model)
    thinking = (body.get("thinking") or {}).get("type", "enabled")
    if release is not None and release.thinking == "always" and thinking != "enabled":
        return _error(400, "1214", "thinking.type: this model only supports enabled")
    effort = body.get("reasoning_effort")
    if effort is not None and release is not None and release.efforts and effort not in release.efforts:
        return _error(400, "1214", f"reasoning_effort must be one of {', '.join(release.efforts)}")
    return None


async def _stream(
    reply: Reply,
    scenario: str,
    tool_stream: bool,
    max_tokens: int | None,
    latency: Latency,
    answered: list[dict[str, Any]],
) -> AsyncIterator[bytes]:
    """The answer as chunks, `max_tokens` of them at most, spaced out by `latency`."""
    deltas: list[dict[str, Any]] = [
        {"role": "assistant", "reasoning_content": p} for p in reply.pieces(reply.reasoning)
    ]
    deltas += [{"role": "assistant", "content": p} for p in reply.pieces(reply.content)]
    finish = "tool_calls" if reply.name else "stop"
    if reply.name and scenario == "ok":
        call = reply.call()
        if tool_stream:
            args = call["function"]["arguments"]
            deltas.append(
                {"tool_calls": [dict(call, function={"name": call["function"]["name"], "arguments": ""})]}
            )
            deltas += [
                {"tool_calls": [{"index": 0, "function": {"arguments": args[i : i + 5]}}]}
                for i in range(0, len(args), 5)
            ]
        else:
            deltas.append({"tool_calls": [call]})
    if max_tokens is not None and len(deltas) > max_tokens:
        deltas, finish = deltas[:max_tokens], "length"
    if scenario == "content_filter":
        finish = "sensitive"
    elif scenario == "network_error":
        finish = "network_error"
    for count, delta in enumerate(deltas, 1):
        await asyncio.sleep(latency.first() if count == 1 else latency.gap())
        yield sse.encode(json.dumps(reply.chunk({"index": 0, "delta": delta}), ensure_ascii=False))
        if scenario == "drop_mid_stream" and count == 3:
            # Abandon the response mid-body: the client sees the connection break, not an error body.
            raise ConnectionAbortedError("stand-in: connection dropped mid-stream")
    end = {"index": 0, "finish_reason": finish, "delta": {"role": "assistant", "content": ""}}
    usage = reply.usage(len(deltas))
    answered.append(usage)
    yield sse.encode(json.dumps(reply.chunk(end, usage), ensure_ascii=False))
    yield sse.DONE


def create_standin(
    api_key: str = "test.key",
    scenario: str = "ok",
    slow_seconds: float = 2.0,
    *,
    latency: Latency | None = None,
    tool_error_rate: float = 0.2,
    answer_tokens: int | None = None,
) -> FastAPI:
    """The stand-in app. Every request counts against its scenario's `NAME:N` budget of failures."""
    latency = latency or Latency()
    app = FastAPI(title="hosted GLM API stand-in", docs_url=None, redoc_url=None)
    hits: dict[str, int] = {}
    app.state.requests = []  # bodies received, for tests
    app.state.answered = []  # the usage of every streamed answer given in full
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
            return _error(*_FAILURES[name], RETRY_AFTER if name == "rate_limit_wait" else None)
        if name == "slow_first_byte":
            await asyncio.sleep(slow_seconds)
        reply = Reply(body, tool_error_rate=tool_error_rate, answer_tokens=answer_tokens)
        if not body.get("stream"):
            await asyncio.sleep(latency.first())
            return JSONResponse(reply.whole())
        max_tokens = body.get("max_tokens")
        chunks = _stream(reply, name, bool(body.get("tool_stream")), max_tokens, latency, app.state.answered)
        return StreamingResponse(chunks, media_type="text/event-stream;charset=UTF-8")

    async def models(request: Request) -> Response:
        if not authorised(request):
            return _error(401, "1002", "Authorization Token is invalid.")
        return JSONResponse(
            {
                "object": "list",
                "data": [
                    {"id": m, "object": "model", "created": 1766332800, "owned_by": "z-ai"}
                    for m in releases.hosted_ids()
                ],
            },
            # Tells `glm-serve bench` that this is the stand-in, wrong on purpose this often (its report
            # says so, so that no one reads the stand-in's tool-call quality as the hosted API's).
            headers={STANDIN_HEADER: f"{tool_error_rate:g}"},
        )

    async def embeddings(request: Request) -> Response:
        if not authorised(request):
            return _error(401, "1002", "Authorization Token is invalid.")
        body = await request.json()
        app.state.requests.append(body)
        if body.get("model") not in EMBEDDING_MODELS:
            return _error(400, "1211", "Unknown Model, please check the model code.")
        texts = body.get("input")
        texts = [texts] if isinstance(texts, str) else texts
        if not texts or not all(isinstance(t, str) and t for t in texts):
            return _error(400, "1214", "input cannot be empty")
        size = int(body.get("dimensions") or 2048)
        tokens = sum(max(1, len(t) // 4) for t in texts)
        data = [
            {"object": "embedding", "index": i, "embedding": _vector(t, size)} for i, t in enumerate(texts)
        ]
        usage = {"prompt_tokens": tokens, "completion_tokens": 0, "total_tokens": tokens}
        return JSONResponse({"object": "list", "model": body["model"], "data": data, "usage": usage})

    async def images(request: Request) -> Response:
        if not authorised(request):
            return _error(401, "1002", "Authorization Token is invalid.")
        body = await request.json()
        app.state.requests.append(body)
        if body.get("model") not in IMAGE_MODELS:
            return _error(400, "1211", "Unknown Model, please check the model code.")
        digest = hashlib.sha256(str(body.get("prompt")).encode()).hexdigest()[:16]
        url = f"https://mock-hosted.invalid/images/{digest}.png"
        return JSONResponse({"created": int(time.time()), "data": [{"url": url}]})

    for prefix in ("/api/paas/v4", "/api/coding/paas/v4"):
        app.add_api_route(prefix + "/chat/completions", chat, methods=["POST"])
        app.add_api_route(prefix + "/models", models, methods=["GET"])
        app.add_api_route(prefix + "/embeddings", embeddings, methods=["POST"])
        app.add_api_route(prefix + "/images/generations", images, methods=["POST"])
    return app
