"""BodyLimit: a request body over the limit is a 413 before it is read, not a server that stalls on it."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..core.errors import PayloadTooLarge, ServerError

# (path, error) → (JSON body, headers): the wire's own error shape, as the app's error handler makes it.
ErrorRender = Callable[[Scope, ServerError], tuple[Mapping[str, Any], Mapping[str, str]]]


class BodyLimit:
    """ASGI middleware. A declared Content-Length over the limit is answered at once, unread; a body
    without one (chunked) is counted as it arrives and refused the moment it passes the limit."""

    def __init__(self, app: ASGIApp, max_bytes: int, render: ErrorRender) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.render = render

    def too_large(self) -> PayloadTooLarge:
        return PayloadTooLarge(
            f"the request body is larger than this server's limit of {self.max_bytes / 1e6:g} MB "
            "(--max-body-mb)"
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length":
                if value.isdigit() and int(value) > self.max_bytes:
                    await self._refuse(scope, send)
                    return
                break
        else:
            receive = self._counting(receive)
        await self.app(scope, receive, send)

    def _counting(self, receive: Receive) -> Receive:
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise self.too_large()  # surfaces from request.body(): the app renders it
            return message

        return counted

    async def _refuse(self, scope: Scope, send: Send) -> None:
        await refuse(scope, send, self.too_large(), self.render)


async def refuse(scope: Scope, send: Send, exc: ServerError, render: ErrorRender) -> None:
    """Answer `exc` in the wire's shape without reading the request's body (so the connection closes)."""
    body, headers = render(scope, exc)
    payload = json.dumps(body).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    # The body is left unread, so the connection cannot be reused: say so.
    raw += [(b"connection", b"close"), *((k.encode(), v.encode()) for k, v in headers.items())]
    await send({"type": "http.response.start", "status": exc.status, "headers": raw})
    await send({"type": "http.response.body", "body": payload})
