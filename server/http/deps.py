"""FastAPI dependencies: the backend, the settings, the API-key check, JSON bodies, gated streams."""

from __future__ import annotations

import hmac
import re
from collections.abc import AsyncIterator
from typing import Annotated, TypeVar

from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

from ..core.backend import Backend
from ..core.errors import AuthenticationFailed, InvalidRequest, ModelNotFound
from ..core.events import StreamEvent
from ..core.request import ChatRequest, CompletionRequest
from ..settings import Settings
from .gate import Gate
from .metrics import Metrics
from .tool_schemas import check_tools


# async: FastAPI runs plain `def` dependencies in a worker thread, a thread hop per request for nothing.
async def get_backend(request: Request) -> Backend:
    backend: Backend = request.app.state.backend
    return backend


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_metrics(request: Request) -> Metrics:
    metrics: Metrics = request.app.state.metrics
    return metrics


M = TypeVar("M", bound=BaseModel)


async def json_body(request: Request, model: type[M]) -> M:
    """The request body as `model`, parsed and validated by pydantic-core in one pass.

    The generation routes call this rather than declaring a body parameter (and take the backend and
    metrics from the app's state rather than as dependencies): FastAPI's body handling and dependency
    solving cost them ~80 µs a request on the benchmark machine, a tenth of the hosted backend's
    latency budget. Errors are FastAPI's own type, so they get the same 400 as every other route's.
    """
    try:
        return model.model_validate_json(await request.body())
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        if errors and errors[0]["type"] == "json_invalid" and _BAD_UNICODE.search(errors[0]["msg"]):
            # A lone UTF-16 surrogate ("\ud800") or bytes that are not UTF-8: no tokenizer can take it.
            detail = errors[0]["msg"].removeprefix("Invalid JSON: ")
            raise InvalidRequest(f"invalid Unicode in the request body: {detail}") from exc
        raise RequestValidationError(errors) from exc


_BAD_UNICODE = re.compile("surrogate|hex escape|unicode", re.IGNORECASE)


BackendDep = Annotated[Backend, Depends(get_backend)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]


def supplied_key(request: Request) -> str | None:
    """The key from `Authorization: Bearer …` (OpenAI) or `x-api-key` (Anthropic)."""
    auth = request.headers.get("authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip()
    return request.headers.get("x-api-key")


async def require_api_key(request: Request) -> None:
    expected = (await get_settings(request)).api_key
    if expected is None:
        return
    given = supplied_key(request)
    # compare_digest: the time taken must not tell an attacker how much of the key was right.
    if given is None or not hmac.compare_digest(given.encode(), expected.get_secret_value().encode()):
        raise AuthenticationFailed("missing or invalid API key")


def open_stream(
    request: Request, req: ChatRequest | CompletionRequest, endpoint: str
) -> AsyncIterator[StreamEvent]:
    """The backend's stream for `req`, admitted by the gate (or refused: 429, 503) and measured."""
    if isinstance(req, ChatRequest) and req.tools:
        check_tools(req.tools)
    state = request.app.state
    backend: Backend = state.backend
    gate: Gate = state.gate
    metrics: Metrics = state.metrics
    return metrics.observe(gate.admit(backend.stream(req)), endpoint, backend.name)


def check_model(backend: Backend, model: str) -> None:
    if not backend.serves(model):
        raise ModelNotFound(
            f"the model {model!r} does not exist; this server serves {backend.model_ids()}", param="model"
        )
