"""RequestIds: each request's id (the client's x-request-id, or a new one) on its answer, logs and errors.

An operator matching a user's failed request to the server's log, or a load balancer's line to ours, needs
one id on all of them. A client (or a proxy in front) may bring its own in `x-request-id`; one that is not
a short run of visible ASCII (a header value that would garble a log line) is replaced, not refused.
The id is set in a context variable for the request's task, which the tasks it starts inherit (the
stream's source, its disconnect watch): logs.Stamp writes it on every record made in them, and the error
bodies read it from there.
"""

from __future__ import annotations

import os
import re

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..logs import REQUEST_ID

HEADER = b"x-request-id"
_ACCEPTED = re.compile(rb"[\x21-\x7e]{1,128}")


class RequestIds:
    """ASGI middleware, outermost: every HTTP response carries `x-request-id`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = next((v for k, v in scope["headers"] if k == HEADER), None)
        raw = (
            given
            if given is not None and _ACCEPTED.fullmatch(given)
            else b"req_" + os.urandom(12).hex().encode()
        )
        header = (HEADER, raw)
        # Not reset on the way out: uvicorn runs each request in a task of its own (a context of its
        # own), and an unexpected failure is answered and logged outside this middleware, by Starlette's
        # ServerErrorMiddleware, which should still see the id.
        REQUEST_ID.set(raw.decode())

        async def stamped(message: Message) -> None:
            if message["type"] == "http.response.start":
                # A new list: the response's own may be shared (a prepared answer's headers).
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        await self.app(scope, receive, stamped)


def with_request_id(body: dict[str, object]) -> dict[str, object]:
    """An error body with the request's id beside the error (as Anthropic's API writes it)."""
    found = REQUEST_ID.get()
    if found is not None:
        body["request_id"] = found
    return body
