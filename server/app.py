"""Composition root: create_app(settings, backend) wires the chosen backend, the wires, health and metrics."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import math
from collections.abc import AsyncIterator, Callable
from importlib.metadata import version
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match, Route
from starlette.types import Scope

from .anthropic.wire import WIRE as ANTHROPIC
from .backends.choice import choose_backend, choose_passthrough
from .core.backend import Backend
from .core.errors import AuthenticationFailed, InvalidRequest, ServerError, internal_error
from .http import log_filters, openapi
from .http.admission import Admission
from .http.deps import BackendDep, MetricsDep, Serving, require_api_key, serving
from .http.encoding import ContentDecoding
from .http.gate import Gate
from .http.head import HeadAsGet
from .http.limits import BodyLimit
from .http.metrics import Metrics
from .http.request_id import RequestIds
from .http.wire import Wire, wire_of
from .logs import REQUEST_ID
from .openai.wire import WIRE as OPENAI
from .responses.wire import WIRE as RESPONSES
from .settings import Settings, load_settings

log = logging.getLogger("glm_serve")

# The API formats served: each brings its routes, its error shape and any state it keeps.
WIRES: tuple[Wire, ...] = (OPENAI, ANTHROPIC, RESPONSES)

DEMO_BANNER = """
==============================================================================================
  glm-serve is serving the TINY RANDOM-WEIGHT DEMO MODEL on CPU. Its output is gibberish.
  It proves the plumbing (real vLLM engine, GLM parser, OpenAI API), nothing more.
  Real GLM weights: `glm-serve plan` says which fit your GPUs, then `glm-serve serve PRESET`.
==============================================================================================
"""

HEALTH_RETRY_AFTER = 5  # seconds, on /health's 503 while the model loads

StartFailure = Callable[[BaseException], None]


def create_app(
    settings: Settings | None = None,
    backend: Backend | None = None,
    on_start_failure: StartFailure | None = None,
) -> FastAPI:
    """The app. Pass `backend` to serve through it (tests pass a FakeBackend); else settings decide.
    `on_start_failure` is told when the backend cannot start (the command line stops the server)."""
    settings = settings or load_settings()
    reason = "given by the caller"
    if backend is None:
        backend, settings, reason = choose_backend(settings)
    log.info("backend: %s (%s)", backend.name, reason)
    log_filters.install()
    if settings.engine.demo:
        log.warning(DEMO_BANNER)
    metrics = Metrics()
    state = Serving(
        backend=backend,
        gate=Gate(metrics, backend.batch_size, settings.limits.max_queued_requests),
        metrics=metrics,
        api_key=settings.server.api_key,
        stream_write_timeout=settings.limits.stream_write_timeout,
        passthrough=choose_passthrough(settings, backend),
        backend_reason=reason,
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Loading the engine takes a while: start it in the background so that /health can say 503
        # meanwhile.
        loading = asyncio.create_task(_start(backend, on_start_failure))
        try:
            yield
        finally:
            loading.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await loading
            await backend.aclose()
            # The hosted backend may serve chat and the hosted-only endpoints both: close it once.
            if state.passthrough is not None and id(state.passthrough) != id(backend):
                await state.passthrough.aclose()

    # FastAPI's own /openapi.json would be served without the key; ours is behind it (service routes).
    app = FastAPI(
        title="glm-serve",
        version=version("glm-serve"),
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        # A redirect to the slash-less path would be answered before authentication, with a Location
        # built from the client's Host header: the slash form is a 404 instead.
        redirect_slashes=False,
    )
    app.state.serving = state
    authed = [Depends(require_api_key)]
    for wire in WIRES:
        app.include_router(wire.router, dependencies=authed)
        if wire.make_state is not None:
            setattr(app.state, wire.name, wire.make_state(settings))
    _add_service_routes(app, authed)
    _add_error_handlers(app)
    # Each added middleware wraps the ones before: a request gets its id, meets HEAD-as-GET, then admission at
    # the door, then the body limit (on the bytes sent), then decoding (limited again, decoded), the app.
    limit = int(settings.limits.max_body_mb * 1e6)
    app.add_middleware(ContentDecoding, max_bytes=limit, render=error_answer)
    app.add_middleware(BodyLimit, max_bytes=limit, render=error_answer)
    paths = [path for wire in WIRES for path in wire.generation_paths]
    app.add_middleware(Admission, gate=state.gate, paths=paths, api_key=state.api_key, render=error_answer)
    app.add_middleware(HeadAsGet)
    app.add_middleware(RequestIds)  # outermost: every answer carries the id, the refusals above too
    return app


def _methods_on(request: Request) -> list[str]:
    matching = [
        route
        for route in request.app.router.routes
        if isinstance(route, Route) and route.matches(request.scope)[0] == Match.PARTIAL
    ]
    # A path some route names outright (/v1/responses/compact) is that resource, not also an {id}.
    exact = [route for route in matching if "{" not in route.path]
    methods: set[str] = set()
    for route in exact or matching:
        methods |= route.methods or set()
    if "GET" in methods:
        methods.add("HEAD")  # HeadAsGet answers it
    return sorted(methods)


async def _start(backend: Backend, on_failure: StartFailure | None) -> None:
    try:
        await backend.start()
    except Exception as exc:
        if on_failure is not None:
            # A server whose engine cannot start serves nothing: stop, so that the command exits with
            # the reason (and a supervisor restarts or alerts) instead of answering 503 forever.
            log.error("the engine failed to start; stopping: %s", exc)
            on_failure(exc)
        return
    # Everything loaded so far (torch, transformers, vLLM, the model config) lives as long as the
    # process. Freezing it keeps the garbage collector's full passes, which would walk all of it, from
    # pausing requests: they stalled first bytes by ~0.7 s on the CPU benchmark (vLLM's engine core
    # freezes its heap the same way).
    gc.collect()
    gc.freeze()


def _add_service_routes(app: FastAPI, authed: list[Any]) -> None:
    def document(app: FastAPI) -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = openapi.document(app)
        return app.openapi_schema

    @app.get("/openapi.json", dependencies=authed, include_in_schema=False)
    async def openapi_document(request: Request) -> JSONResponse:
        return JSONResponse(document(request.app))

    @app.get("/docs", dependencies=authed, include_in_schema=False)
    async def docs(request: Request) -> HTMLResponse:
        # The document goes inside the page: the browser's own fetch of /openapi.json would carry no key.
        return get_swagger_ui_html(
            openapi_url="", title="glm-serve API", swagger_ui_parameters={"spec": document(request.app)}
        )

    @app.get("/", include_in_schema=False)
    @app.get("/v1", include_in_schema=False)
    async def front(request: Request, backend: BackendDep) -> JSONResponse:
        """What is serving here: for a person (or a script) that opens the server's address."""
        state = await backend.health()
        body: dict[str, Any] = {
            "name": "glm-serve",
            "version": request.app.version,
            "state": "ready" if state.ready else ("loading" if state.loading else "not serving"),
        }
        try:
            await require_api_key(request)
        except AuthenticationFailed:
            return JSONResponse(body)
        apis = {"openai": "/v1/chat/completions", "anthropic": "/v1/messages", "responses": "/v1/responses"}
        return JSONResponse(body | {"models": backend.model_ids(), "apis": apis, "docs": "/docs"})

    @app.get("/health", responses={503: {"description": "Not serving (loading, dead or shutting down)"}})
    async def health(request: Request, backend: BackendDep) -> JSONResponse:
        state = await backend.health()
        gate = serving(request).gate
        headers: dict[str, str] = {}
        if gate.draining:
            status, code = "shutting down", 503
        elif not state.ready:
            status, code = ("loading" if state.loading else "dead"), 503
            if state.loading:
                headers["retry-after"] = str(HEALTH_RETRY_AFTER)
        else:
            # Still 200 when saturated: it serves, but a load balancer may prefer another replica.
            status, code = ("saturated" if gate.saturated() else "ok"), 200
        body: dict[str, Any] = {"status": status}
        try:
            await require_api_key(request)
        except AuthenticationFailed:
            return JSONResponse(body, status_code=code, headers=headers)  # no key, no details
        body |= {
            "backend": state.backend,
            "detail": state.detail,
            "reason": serving(request).backend_reason,
            "models": backend.model_ids(),
        }
        return JSONResponse(body, status_code=code, headers=headers)

    @app.get("/metrics", dependencies=authed, response_class=PlainTextResponse)
    async def metrics(m: MetricsDep) -> Response:
        return Response(m.exposition(), media_type="text/plain; version=0.0.4; charset=utf-8")


# Errors that the same request will meet again. Claude Code (and the Stainless-made SDKs) retry a 401 for
# minutes before telling the user the key is wrong, unless the response says not to.
FINAL_STATUSES = frozenset({400, 401, 403, 404, 413, 422})


def error_response(request: Request, exc: ServerError) -> JSONResponse:
    """The error in the shape of the wire whose route failed."""
    return JSONResponse(error_body(request.scope, exc), status_code=exc.status, headers=error_headers(exc))


def error_body(scope: Scope, exc: ServerError) -> dict[str, Any]:
    """`exc` as the wire that owns the request's path writes errors; OpenAI's shape elsewhere."""
    wire = wire_of(WIRES, scope) or OPENAI
    return wire.error_body(exc)


def error_answer(scope: Scope, exc: ServerError) -> tuple[dict[str, Any], dict[str, str]]:
    """The body and headers of `exc`'s answer, for the middleware that answer before the app does."""
    return error_body(scope, exc), error_headers(exc)


def error_headers(exc: ServerError) -> dict[str, str]:
    headers: dict[str, str] = {}
    if exc.status in FINAL_STATUSES or exc.retried:
        headers["x-should-retry"] = "false"
    if exc.retry_after is not None:
        headers["retry-after"] = str(max(1, math.ceil(exc.retry_after)))
    return headers


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ServerError)
    async def server_error(request: Request, exc: ServerError) -> JSONResponse:
        return error_response(request, exc)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        what = first.get("msg", "invalid request")
        message = f"{where}: {what}" if where else f"invalid request body: {what}"
        return error_response(request, InvalidRequest(message, param=where or None))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        err = ServerError(str(exc.detail))
        err.status = exc.status_code
        err.type = "not_found_error" if exc.status_code == 404 else "invalid_request_error"
        response = error_response(request, err)
        response.headers.update(exc.headers or {})
        if exc.status_code == 405:
            # Starlette's Allow names the first route on the path only; a path may have several.
            response.headers["Allow"] = ", ".join(_methods_on(request))
        return response

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s", request.url.path)
        response = error_response(request, internal_error())
        # Answered outside the RequestIds middleware (Starlette's outermost layer answers it): the id
        # goes on here.
        if (found := REQUEST_ID.get()) is not None:
            response.headers["x-request-id"] = found
        return response
