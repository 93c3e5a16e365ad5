"""EventStreamResponse over the ASGI interface: coalesced writes, source errors, and a client hanging up."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from server.http.event_stream import EventStreamResponse


class Client:
    """The ASGI server's side: records what is sent; `leave()` makes receive() report a disconnect."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.gone = asyncio.Event()

    async def receive(self) -> dict[str, Any]:
        await self.gone.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: dict[str, Any]) -> None:
        self.messages.append(message)

    def leave(self) -> None:
        self.gone.set()

    @property
    def bodies(self) -> list[bytes]:
        return [m["body"] for m in self.messages if m["type"] == "http.response.body"]


async def serve(source: AsyncIterator[bytes], client: Client) -> None:
    response = EventStreamResponse(source, {"x-glm-serve-backend": "fake"})
    await response({"type": "http"}, client.receive, client.send)  # type: ignore[arg-type]


async def test_events_made_together_leave_in_one_write() -> None:
    gate = asyncio.Event()

    async def source() -> AsyncIterator[bytes]:
        for i in range(3):  # one upstream read that held three frames
            yield b"data: %d\n\n" % i
        await gate.wait()  # then the source waits for more, as on a socket
        yield b"data: 3\n\n"
        yield b"data: [DONE]\n\n"

    client = Client()
    task = asyncio.create_task(serve(source(), client))
    await asyncio.sleep(0.01)
    gate.set()
    await task
    start = client.messages[0]
    assert start["type"] == "http.response.start" and start["status"] == 200
    assert (b"content-type", b"text/event-stream; charset=utf-8") in start["headers"]
    assert (b"x-glm-serve-backend", b"fake") in start["headers"]
    # The end of the body goes with the last events (one write).
    assert client.bodies == [b"data: 0\n\ndata: 1\n\ndata: 2\n\n", b"data: 3\n\ndata: [DONE]\n\n"]
    assert [m["more_body"] for m in client.messages[1:]] == [True, False]


async def test_a_client_that_leaves_stops_the_source() -> None:
    closed = asyncio.Event()

    async def endless() -> AsyncIterator[bytes]:
        try:
            while True:
                yield b"data: tick\n\n"
                await asyncio.sleep(0.001)
        finally:
            closed.set()  # where a backend aborts its engine request or closes its upstream

    client = Client()
    task = asyncio.create_task(serve(endless(), client))
    await asyncio.sleep(0.02)
    client.leave()
    await asyncio.wait_for(task, 1)
    assert closed.is_set()
    assert client.bodies and all(b == b"data: tick\n\n" * (len(b) // 12) for b in client.bodies)
    assert all(m.get("more_body", True) for m in client.messages[1:])  # no clean end: the client is gone


async def test_a_source_that_ends_while_a_write_waits_still_ends_the_body() -> None:
    async def source() -> AsyncIterator[bytes]:
        yield b"data: 1\n\n"
        await asyncio.sleep(0)
        yield b"data: 2\n\n"

    class SlowClient(Client):
        async def send(self, message: dict[str, Any]) -> None:
            if message["type"] == "http.response.body":
                await asyncio.sleep(0.01)  # a full socket buffer: the source finishes meanwhile
            self.messages.append(message)

    client = SlowClient()
    await asyncio.wait_for(serve(source(), client), 1)
    assert client.bodies == [b"data: 1\n\n", b"data: 2\n\n"]
    assert [m["more_body"] for m in client.messages[1:]] == [True, False]


async def test_a_failing_source_raises_after_what_it_made_was_sent() -> None:
    async def failing() -> AsyncIterator[bytes]:
        yield b"data: 1\n\n"
        await asyncio.sleep(0)
        raise RuntimeError("the backend broke")

    client = Client()
    with pytest.raises(RuntimeError, match="the backend broke"):
        await serve(failing(), client)
    assert client.bodies == [b"data: 1\n\n"]


async def test_a_source_that_never_ran_is_closed_all_the_same() -> None:
    closed = asyncio.Event()

    async def primed() -> AsyncIterator[bytes]:
        try:
            yield b"data: first\n\n"  # taken before the response, as prime() takes a MessageStart
            yield b"data: second\n\n"
        finally:
            closed.set()

    source = primed()
    await anext(source)

    class Broken(Client):
        async def send(self, message: dict[str, Any]) -> None:
            raise OSError("the connection is gone")

    with pytest.raises(OSError):
        await serve(source, Broken())
    assert closed.is_set()
