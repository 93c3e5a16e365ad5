"""Stream plumbing: surface a stream's early errors before responding, and merge n choices into one."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Sequence
from typing import Any, TypeVar

from .events import MessageStart, StreamEvent

Tagged = tuple[int, StreamEvent]
T = TypeVar("T")


async def prime(events: AsyncIterator[StreamEvent]) -> tuple[StreamEvent, AsyncIterator[StreamEvent]]:
    """Run a stream up to its first event now, so that errors raised before it (a bad request, a
    context overflow, an engine that is still loading) become an HTTP error status instead of an
    error inside a 200 stream. Returns that event (a MessageStart) and an iterator replaying it first.
    """
    try:
        first = await anext(events)
    except BaseException:
        await _aclose(events)
        raise
    return first, replay(first, events)


def served_by(first: StreamEvent) -> dict[str, str]:
    """The response headers naming the backend that serves it, and how it fitted the request's thinking
    to the model (x-glm-serve-thinking), where it did."""
    if not isinstance(first, MessageStart):
        return {}
    headers = {"x-glm-serve-backend": first.backend} if first.backend else {}
    if first.thinking_note:
        headers["x-glm-serve-thinking"] = first.thinking_note
    return headers


def replay(first: T, rest: AsyncIterator[T]) -> AsyncIterator[T]:
    """`first`, then the rest of the iterator it was taken from; closing the result closes `rest`."""
    return _Replay(first, rest)


class _Replay(AsyncIterator[T]):
    """replay() without a generator's frame in the chain: after the first, each step is the rest's own
    __anext__ handed on (a generator would resume itself, then the rest, for every event)."""

    def __init__(self, first: T, rest: AsyncIterator[T]) -> None:
        self._first: list[T] = [first]
        self._rest = rest

    def __anext__(self) -> Awaitable[T]:
        if self._first:
            return _ready(self._first.pop())
        return self._rest.__anext__()

    async def aclose(self) -> None:
        self._first.clear()
        await _aclose(self._rest)


async def _ready(value: T) -> T:
    return value


async def tag(events: AsyncIterator[StreamEvent], index: int = 0) -> AsyncIterator[Tagged]:
    try:
        async for event in events:
            yield index, event
    finally:
        await _aclose(events)


def fan_out(streams: Sequence[AsyncIterator[StreamEvent]]) -> AsyncIterator[Tagged]:
    """Interleave several choices' streams as they produce; closing the result closes them all."""
    return tag(streams[0]) if len(streams) == 1 else _merge(streams)


async def _merge(streams: Sequence[AsyncIterator[StreamEvent]]) -> AsyncIterator[Tagged]:
    queue: asyncio.Queue[Tagged | BaseException | None] = asyncio.Queue()

    async def pump(index: int, events: AsyncIterator[StreamEvent]) -> None:
        try:
            async for event in events:
                await queue.put((index, event))
            await queue.put(None)
        except Exception as exc:
            await queue.put(exc)
        finally:
            await _aclose(events)

    tasks = [asyncio.create_task(pump(i, s)) for i, s in enumerate(streams)]
    try:
        remaining = len(tasks)
        while remaining:
            item: Tagged | BaseException | None = await queue.get()
            if item is None:
                remaining -= 1
            elif isinstance(item, BaseException):
                raise item
            else:
                yield item
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


async def _aclose(events: AsyncIterator[Any]) -> None:
    close = getattr(events, "aclose", None)
    if close is not None:
        await close()
