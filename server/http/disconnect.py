"""Noticing that a client hung up, and cancelling a non-streamed request's work when it does."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from typing import TypeVar

from fastapi import Request
from starlette.types import Receive

T = TypeVar("T")


class ClientGone(Exception):
    """The client disconnected before the response was ready."""


async def until_disconnect(request: Request, work: Awaitable[T]) -> T:
    """Await `work`; if the client disconnects first, cancel it (which aborts engine requests)."""
    task = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(disconnected(request.receive))
    try:
        await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for pending in (task, watcher):
            if not pending.done():
                pending.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await pending
    if task.cancelled():
        raise ClientGone
    return task.result()


async def disconnected(receive: Receive) -> None:
    """Return when the client has gone. Call it once the request body has been read, so that the next
    ASGI message can only be the disconnect."""
    while (await receive())["type"] != "http.disconnect":
        pass
