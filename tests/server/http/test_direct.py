"""DirectRoute dispatch and the per-stream metrics the gate records: the same answers, errors and
figures as before the hot path left FastAPI's machinery and the metrics generator."""

from __future__ import annotations

import httpx
import openai
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from fastapi.testclient import TestClient

from server.app import create_app
from server.backends.fake import FakeBackend
from server.core.errors import AuthenticationFailed
from server.http.deps import BackendDep
from server.http.direct import DirectRoute
from server.settings import Settings
from tests.conftest import live_server
from tests.integration.app.test_streams import FailingBackend

USER = [{"role": "user", "content": "hi"}]


def _app() -> FastAPI:
    async def needs_key(request: Request) -> None:
        if request.headers.get("x-key") != "k":
            raise AuthenticationFailed("no key")

    router = APIRouter(route_class=DirectRoute)

    @router.post("/direct")
    async def direct(request: Request) -> Response:
        return JSONResponse({"body": (await request.body()).decode()})

    @router.post("/fails")
    async def fails(request: Request) -> Response:
        raise ValueError("boom")

    @router.get("/with-backend")
    async def with_backend(request: Request, backend: BackendDep) -> dict[str, str]:
        return {"backend": backend.name}

    app = FastAPI()
    app.include_router(router, dependencies=[Depends(needs_key)])

    @app.exception_handler(AuthenticationFailed)
    async def refused(request: Request, exc: AuthenticationFailed) -> JSONResponse:
        return JSONResponse({"refused": exc.message}, status_code=401)

    @app.exception_handler(ValueError)
    async def failed(request: Request, exc: ValueError) -> JSONResponse:
        return JSONResponse({"failed": str(exc)}, status_code=500)

    return app


def test_a_request_only_route_is_called_directly_with_its_dependencies_first() -> None:
    app = _app()
    apps = {r.path: r.app for r in app.routes if isinstance(r, DirectRoute)}
    assert apps["/direct"].__qualname__.startswith("_direct")
    # A route with more than the Request, or one that answers a dict, is FastAPI's to call.
    assert not apps["/with-backend"].__qualname__.startswith("_direct")
    with TestClient(app) as c:
        assert c.post("/direct", content=b"abc", headers={"x-key": "k"}).json() == {"body": "abc"}
        refused = c.post("/direct", content=b"abc")
        assert (refused.status_code, refused.json()) == (401, {"refused": "no key"})
        # The endpoint's own exception reaches the app's handlers.
        failed = c.post("/fails", headers={"x-key": "k"})
        assert (failed.status_code, failed.json()) == (500, {"failed": "boom"})
    # The OpenAPI document still describes the direct routes.
    assert "/direct" in app.openapi()["paths"]


def _sample(app: FastAPI, name: str, **labels: str) -> float | None:
    """One of the app's own figures. Read from its registry, not /metrics: there an engine that ran
    earlier in this process publishes the families vLLM and we share, and its own are served instead."""
    found: float | None = app.state.serving.metrics.registry.get_sample_value(name, labels)
    return found


def test_the_gate_records_every_streams_figures() -> None:
    app = create_app(Settings(backend="fake"), FakeBackend("reasoning</think>the answer"))
    with live_server(app) as base:
        c = openai.OpenAI(base_url=base + "/v1", api_key="x", max_retries=0)
        stream = c.chat.completions.create(
            model="glm-fake", messages=USER, stream=True, stream_options={"include_usage": True}
        )
        usages = [chunk.usage for chunk in stream if chunk.usage]  # read to its end
        usage = usages[0]
        whole = c.chat.completions.create(model="glm-fake", messages=USER)
        assert whole.usage is not None
        c.close()
    ok = {"backend": "fake", "endpoint": "chat", "outcome": "ok"}
    assert _sample(app, "glm_serve:requests_total", **ok) == 2
    assert _sample(app, "vllm:num_requests_running") == 0
    assert _sample(app, "vllm:time_to_first_token_seconds_count") == 2
    assert _sample(app, "vllm:e2e_request_latency_seconds_count") == 2
    assert (
        _sample(app, "vllm:generation_tokens_total")
        == usage.completion_tokens + whole.usage.completion_tokens
    )
    assert _sample(app, "vllm:prompt_tokens_total") == usage.prompt_tokens + whole.usage.prompt_tokens
    assert _sample(app, "vllm:request_success_total", finished_reason="stop") == 2


def test_a_stream_that_fails_is_counted_with_its_error() -> None:
    app = create_app(Settings(backend="fake"), FailingBackend("</think>a long answer that never finishes"))
    with (
        live_server(app) as base,
        httpx.stream(
            "POST",
            base + "/v1/chat/completions",
            json={"model": "glm-fake", "messages": USER, "stream": True},
        ) as r,
    ):
        assert '"error"' in r.read().decode()
    failed = {"backend": "fake", "endpoint": "chat", "outcome": "service_unavailable"}
    assert _sample(app, "glm_serve:requests_total", **failed) == 1
    assert _sample(app, "vllm:num_requests_running") == 0
