"""Admission: a full server refuses a generation request at the door, before the app routes or reads it.

Past the queue bound, a burst of thousands of requests each cost ~230 µs of this process's CPU when
refused inside the route (routing, dependencies, body, the error handler): the last of 2,048 waited half a
second for its 429. Here a refusal is a comparison, the key check and a prepared answer. The route's own
check (Gate.admit) stays: the gate may fill between this look and the request's stream.
"""

from __future__ import annotations

from collections.abc import Collection

from pydantic import SecretStr
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from ..core.errors import ServerError
from .deps import key_accepted
from .gate import Gate
from .limits import ErrorRender, refuse


class Admission:
    """ASGI middleware over the generation routes (`paths`, POST): 429 when the gate is full, 503 while
    draining, in the wire's shape. A request without the key goes on to the app, for its 401."""

    def __init__(
        self,
        app: ASGIApp,
        gate: Gate,
        paths: Collection[str],
        api_key: SecretStr | None,
        render: ErrorRender,
    ) -> None:
        self.app = app
        self.gate = gate
        self.paths = frozenset(paths)
        self.api_key = api_key
        self.render = render

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        gate = self.gate
        if (
            scope["type"] == "http"
            and scope["method"] == "POST"
            and scope["path"] in self.paths
            and (gate.draining or gate.saturated())
            and key_accepted(self.api_key, Headers(scope=scope))
        ):
            try:
                gate.check()
            except ServerError as exc:
                await refuse(scope, send, exc, self.render, receive)
                return
        await self.app(scope, receive, send)
