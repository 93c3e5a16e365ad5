"""HeadAsGet: HEAD answered wherever GET is, as that GET without its body (load balancers probe with it)."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class HeadAsGet:
    """ASGI middleware. FastAPI's routes take GET alone; a HEAD request runs as the GET it asks about,
    through the same authentication, and its response keeps the status and headers (Content-Length
    included, as HTTP wants) with the body left out. Where no GET is served, the 405 names what is."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def without_body(message: Message) -> None:
            if message["type"] == "http.response.body":
                if message.get("more_body", False):
                    return
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, without_body)
