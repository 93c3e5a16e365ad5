"""The flow every generation route shares once it has its core request: admit, prime, then SSE or JSON."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse, Response

from ..core.events import StreamEvent
from ..core.streams import prime, served_by
from .deps import serving
from .disconnect import ClientGone, until_disconnect
from .event_stream import EventStreamResponse

Events = list[AsyncIterator[StreamEvent]]


async def respond(
    request: Request,
    streams: Sequence[AsyncIterator[StreamEvent]],
    *,
    stream: bool,
    sse: Callable[[Events], AsyncIterator[bytes]] | None,
    whole: Callable[[Events], Awaitable[Any]],
    headers: Mapping[str, str] | None = None,
    keepalive: tuple[bytes, float] | None = None,
) -> Response:
    """Answer with `streams` (opened by deps.open_stream, one per choice): each is primed first, so a
    failure before any output is an error status, not a 200 with an error event; then `sse` renders them
    as an event stream (routes that answer only whole pass None; `keepalive`, an event and the seconds
    of silence after which it is written), or `whole` folds them into one JSON body (499 if the client
    left meanwhile)."""
    primed: Events = []
    first = None
    try:
        for s in streams:
            first, events = await prime(s)
            primed.append(events)
    except BaseException:
        for events in primed:
            await events.aclose()  # type: ignore[attr-defined]
        raise
    all_headers = {**(served_by(first) if first is not None else {}), **(headers or {})}
    if stream:
        assert sse is not None, "a route that cannot stream never asks to"
        timeout = serving(request).stream_write_timeout
        return EventStreamResponse(sse(primed), all_headers, timeout, keepalive)
    try:
        body = await until_disconnect(request, whole(primed))
    except ClientGone:
        return Response(status_code=499)
    return JSONResponse(body, headers=all_headers)
