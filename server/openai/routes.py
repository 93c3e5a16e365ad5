"""OpenAI routes: thin dispatch from the wire to the backend and back."""

from __future__ import annotations

import base64
import dataclasses
import struct
import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from ..core.collect import collect
from ..core.errors import InvalidRequest, NotServed
from ..core.events import StreamEvent
from ..core.request import ChatRequest, CompletionRequest
from ..core.streams import fan_out
from ..http.deps import BackendDep, check_model, get_backend, json_body, open_stream, serving
from ..http.direct import DirectRoute
from ..http.flow import respond
from ..http.openapi import takes
from . import convert, render, schema

router = APIRouter(route_class=DirectRoute)  # the generation routes skip FastAPI's per-request work


def _choices(req: ChatRequest | CompletionRequest, n: int) -> list[ChatRequest | CompletionRequest]:
    """n independent requests; a fixed seed is offset per choice so the choices differ."""
    seed = req.sampling.seed
    return [
        dataclasses.replace(req, sampling=dataclasses.replace(req.sampling, seed=(seed + i) % 2**64))
        if seed is not None and i
        else req
        for i in range(n)
    ]


async def _respond(
    request: Request, req: ChatRequest | CompletionRequest, body: schema.Sampling, endpoint: str
) -> Response:
    check_model(await get_backend(request), req.model)
    streams = [open_stream(request, r, endpoint) for r in _choices(req, body.n)]
    chat = isinstance(req, ChatRequest)
    include_usage = bool(body.stream_options and body.stream_options.include_usage)
    renderer = render.chat_sse if chat else render.completion_sse

    async def whole(primed: list[AsyncIterator[StreamEvent]]) -> dict[str, Any]:
        results = [await collect(s) for s in primed]
        return render.chat_completion(results) if chat else render.text_completion(results)

    return await respond(
        request,
        streams,
        stream=body.stream,
        sse=lambda primed: renderer(fan_out(primed), include_usage=include_usage),
        whole=whole,
    )


@router.post("/v1/chat/completions", openapi_extra=takes(schema.ChatCompletionRequest, streams=True))
async def create_chat_completion(request: Request) -> Response:
    body = await json_body(request, schema.ChatCompletionRequest)
    return await _respond(request, convert.chat_request(body), body, "chat")


@router.post("/v1/completions", openapi_extra=takes(schema.CompletionRequest, streams=True))
async def create_completion(request: Request) -> Response:
    body = await json_body(request, schema.CompletionRequest)
    return await _respond(request, convert.completion_request(body), body, "completions")


@router.get("/v1/models")
async def list_models(backend: BackendDep) -> dict[str, Any]:
    created = int(time.time())
    return {
        "object": "list",
        "data": [
            {
                "id": m,
                "object": "model",
                "created": created,
                "owned_by": "glm-serve",
                "root": m,
                "max_model_len": backend.context_length(),
            }
            for m in backend.model_ids()
        ],
    }


@router.post("/tokenize", openapi_extra=takes(schema.TokenizeRequest))
async def tokenize(request: Request, backend: BackendDep) -> dict[str, Any]:
    body = await json_body(request, schema.TokenizeRequest)
    model = body.model or backend.model_ids()[0]
    check_model(backend, model)
    req: ChatRequest | CompletionRequest
    if body.messages is not None:
        chat = schema.ChatCompletionRequest(
            model=model,
            messages=body.messages,
            tools=body.tools,
            chat_template_kwargs=body.chat_template_kwargs,
        )
        req = convert.chat_request(chat)
    elif body.prompt is not None:
        req = CompletionRequest(model, body.prompt)
    else:
        raise InvalidRequest("send either prompt or messages", param="prompt")
    tokens = await backend.tokenize(req)
    return {"count": len(tokens), "max_model_len": backend.context_length(), "tokens": tokens}


async def _passed_through(request: Request, endpoint: str, what: str, body: dict[str, Any]) -> dict[str, Any]:
    passthrough = serving(request).passthrough
    if passthrough is None:
        raise NotServed(
            f"{what} come from the hosted API (no open GLM weights serve them), and this server has no "
            "hosted key or runs offline: set BIGMODEL_API_KEY or ZAI_API_KEY"
        )
    return dict(await passthrough.post(endpoint, body))


@router.post("/v1/embeddings", openapi_extra=takes(schema.EmbeddingsRequest))
async def create_embeddings(request: Request) -> dict[str, Any]:
    body = (await json_body(request, schema.EmbeddingsRequest)).model_dump(exclude_none=True)
    # The OpenAI SDK asks for base64 by default; the hosted API answers floats, encoded here as OpenAI
    # encodes them (little-endian float32).
    base64_wanted = body.pop("encoding_format", "float") == "base64"
    answer = await _passed_through(request, "/embeddings", "embeddings (embedding-3)", body)
    if base64_wanted:
        for item in answer.get("data") or ():
            vector = item.get("embedding")
            if isinstance(vector, list):
                item["embedding"] = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
    return answer


@router.post("/v1/images/generations", openapi_extra=takes(schema.ImagesRequest))
async def create_image(request: Request) -> dict[str, Any]:
    body = (await json_body(request, schema.ImagesRequest)).model_dump(exclude_none=True)
    return await _passed_through(request, "/images/generations", "image generations (cogview-4)", body)
