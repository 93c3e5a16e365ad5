"""Connections a response can reset: uvicorn's HTTP protocol, with the connection offered to the app.

A client that stops reading keeps its connection, and the buffers behind it, for as long as it likes:
closing the socket only queues a FIN behind megabytes of unread data, and a response that has handed its
last bytes to the server is done in ASGI's eyes while they still wait there. ASGI has no call for either,
so this protocol puts the connection in each request's scope (`extensions`): a stream can wait until its
bytes have left the server's buffer, and reset the connection (SO_LINGER 0, then close: an RST, the
queue dropped) when a client has read nothing for too long.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from contextlib import suppress

from starlette.types import Scope
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

CONNECTION = "glm_serve.connection"


class Connection:
    """The connection a request came on, as a response may act on it."""

    def __init__(self, protocol: HttpToolsProtocol) -> None:
        self._protocol = protocol

    async def drained(self) -> None:
        """Until the server's write buffer is back under its high-water mark."""
        await self._protocol.flow.drain()

    def reset(self) -> None:
        """Reset the connection: an RST to the client, whatever is still queued for it dropped."""
        transport: asyncio.Transport = self._protocol.transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with suppress(OSError):  # the peer may have gone already
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()


class ResettableHttpTools(HttpToolsProtocol):
    """uvicorn's httptools protocol; each request's scope carries `extensions[CONNECTION]`."""

    def on_message_begin(self) -> None:
        super().on_message_begin()
        # ASGI extensions are dicts keyed by extension name, each a dict of its own.
        self.scope["extensions"] = {CONNECTION: {"connection": Connection(self)}}


def connection(scope: Scope) -> Connection | None:
    """The request's connection, where the server offers it (this module's protocol does)."""
    found: Connection | None = ((scope.get("extensions") or {}).get(CONNECTION) or {}).get("connection")
    return found
