"""DirectRoute: a route whose endpoint takes the Request alone, called without FastAPI's per-request work.

FastAPI runs every request through its dependency solver, two AsyncExitStacks and a route-level
exception wrapper, ~60 µs of the hosted path's CPU per request on the benchmark machine, for a generation
route that declares nothing but the Request (it reads its body itself: deps.json_body). Such a route is
called directly here: its dependencies (request-only checks such as the API key) in order, the endpoint,
the response. Its OpenAPI entry is FastAPI's as before, and an exception reaches the app's handlers
through the ExceptionMiddleware around the router, as it would have. A route that takes more than the
Request, or answers with something other than a Response, is left to FastAPI.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

Check = Callable[[Request], Awaitable[None]]


class DirectRoute(APIRoute):
    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, endpoint, **kwargs)
        checks = [d.dependency for d in self.dependencies]
        answers = inspect.signature(endpoint, eval_str=True).return_annotation
        if (
            inspect.isclass(answers)
            and issubclass(answers, Response)  # not a dict FastAPI would serialise
            and _takes_request_only(endpoint)
            and all(c is not None and _takes_request_only(c) for c in checks)
        ):
            self.app = _direct(endpoint, checks)  # type: ignore[arg-type]


def _takes_request_only(function: Callable[..., Any]) -> bool:
    params = list(inspect.signature(function, eval_str=True).parameters.values())
    return len(params) == 1 and params[0].annotation is Request and inspect.iscoroutinefunction(function)


def _direct(endpoint: Callable[[Request], Awaitable[Response]], checks: list[Check]) -> ASGIApp:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive, send)
        for check in checks:
            await check(request)
        response = await endpoint(request)
        await response(scope, receive, send)

    return app
