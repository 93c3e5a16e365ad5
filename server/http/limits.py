"""BodyLimit: a request body over the limit is a 413 before it is read, not a server that stalls on it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping
from contextlib import suppress
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
                    await refuse(scope, send, self.too_large(), self.render, receive)
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


# How long, and how much, a refused request's body is read and dropped before its connection closes.
LINGER_SECONDS = 10.0
LINGER_BYTES = 256 * 2**20


async def refuse(
    scope: Scope, send: Send, exc: ServerError, render: ErrorRender, receive: Receive | None = None
) -> None:
    """Answer `exc` in the wire's shape without handing the request's body to the app.

    The connection then closes (the body was not read, so it cannot be reused). Closing a socket with
    unread data makes the kernel reset it, and a client still sending its body (httpx's async client,
    so the openai SDK's and most agent frameworks') sees the reset, not the answer, and retries. So, as
    nginx's lingering close does, the rest of the body is read and dropped first (given `receive`; at
    most LINGER_BYTES over LINGER_SECONDS), unless the client waits for 100 Continue before sending it.
    """
    body, headers = render(scope, exc)
    payload = json.dumps(body).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    raw += [(b"connection", b"close"), *((k.encode(), v.encode()) for k, v in headers.items())]
    await send({"type": "http.response.start", "status": exc.status, "headers": raw})
    # The answer goes out at once; the response ends (and the connection closes) after the linger.
    await send({"type": "http.response.body", "body": payload, "more_body": True})
    if receive is not None and not _waits_to_continue(scope):
        await _discard(receive)
    await send({"type": "http.response.body", "body": b""})


def _waits_to_continue(scope: Scope) -> bool:
    return any(k == b"expect" and v.lower() == b"100-continue" for k, v in scope.get("headers", ()))


async def _discard(receive: Receive) -> None:
    """Read and drop the request body, within the linger's bounds."""
    seen = 0
    with suppress(TimeoutError):
        async with asyncio.timeout(LINGER_SECONDS):
            while seen < LINGER_BYTES:
                message = await receive()
                if message["type"] != "http.request":
                    return  # the client went away
                seen += len(message.get("body", b""))
                if not message.get("more_body", False):
                    return
