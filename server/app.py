"""Composition root: create_app(settings, backend) builds the FastAPI app, picks the backend, wires routes."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from .anthropic import render as anthropic_render
from .anthropic import routes as anthropic_routes
from .core.backend import Backend
from .core.errors import InvalidRequest, ServerError
from .deps import BackendDep, MetricsDep, require_api_key
from .metrics import Metrics
from .openai import render as openai_render
from .openai import routes as openai_routes
from .settings import ROOT, Settings

log = logging.getLogger("glm_serve")
TINY_MODEL_DIR = ROOT / "models" / "tiny-glm"


def choose_backend(settings: Settings) -> tuple[Backend, Settings, str]:
    """The backend the settings ask for (wrapped in a fallback pair if asked), its settings, and why."""
    primary, settings, reason = _one_backend(settings, settings.backend)
    if settings.fallback == "none":
        return primary, settings, reason
    from .backends.fallback import FallbackBackend

    secondary, _, why = _one_backend(settings, settings.fallback_backend)
    pair = FallbackBackend(primary, secondary, settings.fallback, settings.spillover_queue_depth)
    return pair, settings, f"{reason}; {settings.fallback} to {secondary.name} ({why})"


def _one_backend(settings: Settings, kind: str) -> tuple[Backend, Settings, str]:
    if kind == "fake":
        from .backends.fake import FakeBackend

        return FakeBackend(model=settings.served_name()), settings, "--backend fake"
    if kind == "hosted":
        from .backends.hosted import HostedBackend

        return HostedBackend(settings), settings, "--backend hosted"
    if kind == "upstream":
        from .backends.upstream import UpstreamBackend

        return UpstreamBackend(settings), settings, f"--backend upstream ({settings.upstream_url})"
    if settings.demo:
        return _tiny_demo(settings)
    if kind == "local":
        from .backends.local import LocalBackend

        return LocalBackend(settings), settings, "--backend local"
    if settings.model and _gpu_available() and _is_weights_dir(settings.model):
        from .backends.local import LocalBackend

        return LocalBackend(settings), settings, f"a CUDA GPU and local weights in {settings.model}"
    from .backends.hosted import HostedBackend, api_key

    if api_key():
        return HostedBackend(settings), settings, "no usable GPU with local weights; a hosted API key is set"
    return _tiny_demo(settings)


def _tiny_demo(settings: Settings) -> tuple[Backend, Settings, str]:
    from .backends.local import LocalBackend

    if not (TINY_MODEL_DIR / "config.json").exists():
        from .tiny_model import build

        log.warning("building the tiny demo model in %s", TINY_MODEL_DIR)
        build(TINY_MODEL_DIR)
    demo = settings.model_copy(
        update={
            "model": str(TINY_MODEL_DIR),
            "served_model_name": settings.served_model_name or "glm-tiny-demo",
            "demo": True,
            "kv_cache_gib": settings.kv_cache_gib or 1,
            "gpu_memory_utilization": min(settings.gpu_memory_utilization, 0.3),
            "max_model_len": settings.max_model_len or 4096,
        }
    )
    why = (
        "settings ask for the demo" if settings.demo else "no usable GPU with local weights and no hosted key"
    )
    return LocalBackend(demo), demo, why


def _gpu_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def _is_weights_dir(model: str) -> bool:
    from pathlib import Path

    return (Path(model) / "config.json").is_file()


DEMO_BANNER = """
==============================================================================================
  glm-serve is serving the TINY RANDOM-WEIGHT DEMO MODEL on CPU. Its output is gibberish.
  It proves the plumbing (real vLLM engine, GLM parser, OpenAI API), nothing more.
  Serve real GLM weights with:  glm-serve serve --model /path/to/GLM-4.7-FP8   (needs a GPU)
==============================================================================================
"""


def create_app(settings: Settings | None = None, backend: Backend | None = None) -> FastAPI:
    """The app. Pass `backend` to serve through it (tests pass a FakeBackend); else settings decide."""
    settings = settings or Settings()
    reason = "given by the caller"
    if backend is None:
        backend, settings, reason = choose_backend(settings)
    log.info("backend: %s (%s)", backend.name, reason)
    if settings.demo:
        log.warning(DEMO_BANNER)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Loading the engine takes a while: start it in the background so that /health can say 503
        # meanwhile. AsyncLLM's constructor blocks, hence the worker thread.
        loading = asyncio.create_task(_start(backend))
        app.state.loading = loading
        try:
            yield
        finally:
            loading.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await loading
            await backend.aclose()

    # No OpenAPI document: the API is OpenAI's and Anthropic's, documented by them, and the generation
    # routes read their bodies themselves (deps.json_body), which FastAPI's schema would not show.
    app = FastAPI(title="glm-serve", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.backend = backend
    app.state.settings = settings
    app.state.metrics = Metrics()
    app.state.backend_reason = reason
    authed = [Depends(require_api_key)]
    app.include_router(openai_routes.router, dependencies=authed)
    app.include_router(anthropic_routes.router, dependencies=authed)
    _add_service_routes(app, authed)
    _add_error_handlers(app)
    return app


async def _start(backend: Backend) -> None:
    await backend.start()
    # Everything loaded so far (torch, transformers, vLLM, the model config) lives as long as the
    # process. Freezing it keeps the garbage collector's full passes, which would walk all of it, from
    # pausing requests: they stalled first bytes by ~0.7 s on the CPU benchmark (vLLM's engine core
    # freezes its heap the same way).
    gc.collect()
    gc.freeze()


def _add_service_routes(app: FastAPI, authed: list[Any]) -> None:
    @app.get("/health")
    async def health(request: Request, backend: BackendDep) -> JSONResponse:
        state = await backend.health()
        body = {
            "status": "ok" if state.ready else "unavailable",
            "backend": state.backend,
            "detail": state.detail,
            "reason": request.app.state.backend_reason,
            "models": backend.model_ids(),
        }
        return JSONResponse(body, status_code=200 if state.ready else 503)

    @app.get("/metrics", dependencies=authed)
    async def metrics(m: MetricsDep) -> Response:
        return Response(m.exposition(), media_type="text/plain; version=0.0.4; charset=utf-8")


def error_response(request: Request, exc: ServerError) -> JSONResponse:
    """The error in the wire format of the route that failed: Anthropic's under /v1/messages."""
    if request.url.path.startswith("/v1/messages"):
        return JSONResponse(anthropic_render.error_body(exc), status_code=exc.status)
    return JSONResponse(openai_render.error_body(exc), status_code=exc.status)


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
        return error_response(request, err)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s", request.url.path)
        return error_response(request, openai_render.unexpected_error())
