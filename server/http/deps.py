"""FastAPI dependencies: what the app serves with (Serving), the API-key check, JSON bodies, gated streams."""

from __future__ import annotations

import hmac
import re
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Annotated, TypeVar

from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, SecretStr, ValidationError

from ..core.backend import Backend, Passthrough
from ..core.errors import AuthenticationFailed, InvalidRequest, ModelNotFound
from ..core.events import StreamEvent
from ..core.request import ChatRequest, CompletionRequest
from .gate import Gate
from .metrics import Metrics
from .tool_schemas import check_tools


@dataclass(frozen=True, slots=True)
class Serving:
    """What request handlers need of the app: set once by the composition root, on app.state.serving."""

    backend: Backend
    gate: Gate
    metrics: Metrics
    api_key: SecretStr | None
    stream_write_timeout: float  # seconds a stream waits on a client that does not read
    passthrough: Passthrough | None  # who answers the hosted-only endpoints, if anyone
    backend_reason: str  # why this backend serves (shown by /health to key holders)


def serving(request: Request) -> Serving:
    found: Serving = request.app.state.serving
    return found


# async: FastAPI runs plain `def` dependencies in a worker thread, a thread hop per request for nothing.
async def get_backend(request: Request) -> Backend:
    return serving(request).backend


async def get_metrics(request: Request) -> Metrics:
    return serving(request).metrics


M = TypeVar("M", bound=BaseModel)


async def json_body(request: Request, model: type[M]) -> M:
    """The request body as `model`, parsed and validated by pydantic-core in one pass.

    The generation routes call this rather than declaring a body parameter (and take the backend and
    metrics from the app's state rather than as dependencies): FastAPI's body handling and dependency
    solving cost them ~80 µs a request on the benchmark machine, a tenth of the hosted backend's
    latency budget. Errors are FastAPI's own type, so they get the same 400 as every other route's.
    """
    try:
        body = model.model_validate_json(await request.body())
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        if errors and errors[0]["type"] == "json_invalid" and _BAD_UNICODE.search(errors[0]["msg"]):
            # A lone UTF-16 surrogate ("\ud800") or bytes that are not UTF-8: no tokenizer can take it.
            detail = errors[0]["msg"].removeprefix("Invalid JSON: ")
            raise InvalidRequest(f"invalid Unicode in the request body: {detail}") from exc
        raise RequestValidationError(errors) from exc
    if getattr(body, "model", None) == "":
        body.model = only_model(serving(request).backend)  # type: ignore[attr-defined]
    return body


def only_model(backend: Backend) -> str:
    """The model a request that names none is for: the one this server serves."""
    served = backend.model_ids()
    if len(served) != 1:
        raise InvalidRequest(f"model is required: this server serves {served}", param="model")
    return served[0]


_BAD_UNICODE = re.compile("surrogate|hex escape|unicode", re.IGNORECASE)


BackendDep = Annotated[Backend, Depends(get_backend)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]


def supplied_key(headers: Mapping[str, str]) -> str | None:
    """The key from `Authorization: Bearer …` (OpenAI) or `x-api-key` (Anthropic)."""
    auth = headers.get("authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip()
    return headers.get("x-api-key")


def key_accepted(expected: SecretStr | None, headers: Mapping[str, str]) -> bool:
    """Whether the request's headers carry the key (any request does when the server has none)."""
    if expected is None:
        return True
    given = supplied_key(headers)
    # compare_digest: the time taken must not tell an attacker how much of the key was right.
    return given is not None and hmac.compare_digest(given.encode(), expected.get_secret_value().encode())


async def require_api_key(request: Request) -> None:
    if not key_accepted(serving(request).api_key, request.headers):
        raise AuthenticationFailed("missing or invalid API key")


def open_stream(
    request: Request, req: ChatRequest | CompletionRequest, endpoint: str
) -> AsyncIterator[StreamEvent]:
    """The backend's stream for `req`, admitted by the gate (or refused: 429, 503) and measured."""
    if isinstance(req, ChatRequest) and req.tools:
        check_tools(req.tools)
    state = serving(request)
    backend = state.backend
    return state.gate.admit(backend.stream(req), state.metrics.watch(endpoint, backend.name))


def check_model(backend: Backend, model: str) -> None:
    if not backend.serves(model):
        raise ModelNotFound(
            f"the model {model!r} does not exist; this server serves {backend.model_ids()}", param="model"
        )
