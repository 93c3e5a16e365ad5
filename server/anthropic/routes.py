"""Anthropic routes: /v1/messages and /v1/messages/count_tokens, thin dispatch to the backend."""

from __future__ import annotations

import dataclasses
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from ..core.backend import Backend
from ..core.request import ChatRequest
from ..http.deps import BackendDep, check_model, get_backend, json_body, open_stream
from ..http.direct import DirectRoute
from ..http.flow import respond
from ..http.openapi import takes
from . import convert, render, schema

router = APIRouter(route_class=DirectRoute)  # the generation routes skip FastAPI's per-request work


def _resolve_model(backend: Backend, req: ChatRequest) -> ChatRequest:
    """Claude Code asks for Claude model names (its main and its small fast model) unless told
    otherwise: on a one-model server those mean the model served here."""
    if req.model.startswith("claude-") and not backend.serves(req.model):
        return dataclasses.replace(req, model=backend.model_ids()[0])
    check_model(backend, req.model)
    return req


@router.post("/v1/messages", openapi_extra=takes(schema.MessagesRequest, streams=True))
async def create_message(request: Request) -> Response:
    body = await json_body(request, schema.MessagesRequest)
    req = _resolve_model(await get_backend(request), convert.chat_request(body))
    return await respond(
        request,
        [open_stream(request, req, "messages")],
        stream=body.stream,
        sse=lambda primed: render.message_sse(primed[0]),
        keepalive=(render.PING, render.PING_EVERY),
        whole=lambda primed: render.message(primed[0]),
    )


@router.post("/v1/messages/count_tokens", openapi_extra=takes(schema.CountTokensRequest))
async def count_tokens(request: Request, backend: BackendDep) -> dict[str, Any]:
    body = await json_body(request, schema.CountTokensRequest)
    req = _resolve_model(backend, convert.count_request(body))
    return {"input_tokens": await backend.count_tokens(req)}
