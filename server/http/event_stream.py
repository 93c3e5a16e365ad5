"""EventStreamResponse: an SSE response that writes together what its source produced together."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Mapping

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from .disconnect import disconnected
from .log_filters import ABANDONED
from .transport import connection

log = logging.getLogger("glm_serve.http")


class EventStreamResponse(Response):
    """Streams `chunks` as text/event-stream.

    The source runs in its own task and the response writes whatever it has produced each time it
    gets to run. When the source makes several events at once (an upstream read that held many
    frames, an engine step that finished several choices) they leave in one write, not one socket
    write and one ASGI round trip each, which is what a streamed response spent most of its time on.
    When the client hangs up the source is cancelled, which aborts the engine request or closes the
    upstream connection behind it. A client that reads slowly does not slow the source: what it has not
    taken yet waits here, at most one response's worth. A client that stops reading altogether (a write
    blocked for `write_timeout` seconds, --stream-write-timeout) is treated as gone, and its connection
    reset where the server offers it (transport.py).
    """

    media_type = "text/event-stream"

    def __init__(
        self,
        chunks: AsyncIterator[bytes],
        headers: Mapping[str, str] | None = None,
        write_timeout: float = 60.0,
        keepalive: tuple[bytes, float] | None = None,
    ) -> None:
        self.chunks = chunks
        self.write_timeout = write_timeout
        # (event, seconds): the event is written whenever nothing was for that long (a long prefill).
        self.keepalive = keepalive
        self.status_code = 200
        self.background = None
        self.init_headers({"Cache-Control": "no-cache", **(headers or {})})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        loop = asyncio.get_running_loop()
        pending: list[bytes] = []
        wake: asyncio.Future[None] = loop.create_future()

        def notify(_: object = None) -> None:
            if not wake.done():
                wake.set_result(None)

        async def pump() -> None:
            async for chunk in self.chunks:
                pending.append(chunk)
                notify()

        source = asyncio.create_task(pump())
        source.add_done_callback(notify)
        gone = asyncio.create_task(disconnected(receive))
        gone.add_done_callback(notify)
        writer = _Writer(send, self.write_timeout)
        conn = connection(scope)
        # One timer for the whole stream, not one per event: it fires `every` seconds after the last
        # write and, if nothing was written since, queues the keepalive (then waits as long again).
        timer: asyncio.TimerHandle | None = None
        if self.keepalive is not None:
            ping, every = self.keepalive

            def due() -> None:
                nonlocal timer
                idle = loop.time() - writer.last
                if idle >= every and not pending:
                    pending.append(ping)
                    notify()
                    idle = 0.0
                timer = loop.call_later(every - idle, due)

            timer = loop.call_later(every, due)
        try:
            start = {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
            await send(start)
            while True:
                await wake
                wake = loop.create_future()
                if gone.done():
                    return
                complete = source.done() and not source.cancelled() and source.exception() is None
                if pending or complete:
                    body = b"".join(pending)
                    pending.clear()
                    # The last events and the end of the body leave together: one write, not two.
                    if not await writer.write(body, more=not complete):
                        # A client that stopped reading: reset its connection (what it has not read is
                        # dropped, not left queued for it); its generation is cancelled below.
                        if conn is not None:
                            conn.reset()
                        return
                if complete:
                    # The server has taken the last bytes, not the client: a client reading nothing
                    # would keep them, and its socket, for as long as it liked. The same timeout holds.
                    if conn is not None and not await writer.within(conn.drained()):
                        conn.reset()
                    return
                if source.done() and (source.cancelled() or source.exception() is not None):
                    source.result()  # the source's own failure
                # else it may have finished during the send; its done-callback has woken us again
        finally:
            if timer is not None:
                timer.cancel()
            for task in (source, gone):
                task.cancel()
                # A failed source has raised above already, or its client has left: nobody to tell.
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            # The backend stream behind the source is already running (prime() started it); a source
            # cancelled before its first step would leave it open, so close it here in any case.
            aclose = getattr(self.chunks, "aclose", None)
            if aclose is not None:
                with contextlib.suppress(Exception):
                    await aclose()


class _Writer:
    """Body writes that give up on a client whose socket has stayed full for `timeout` seconds.

    A timer cancels the blocked write (cheaper than a task per write with asyncio.wait_for)."""

    def __init__(self, send: Send, timeout: float) -> None:
        self.send = send
        self.timeout = timeout
        self.last = asyncio.get_running_loop().time()  # when the last write began

    async def write(self, body: bytes, more: bool) -> bool:
        self.last = asyncio.get_running_loop().time()
        return await self.within(self.send({"type": "http.response.body", "body": body, "more_body": more}))

    async def within(self, work: Awaitable[object]) -> bool:
        """Await `work` (a write, or the wait for one to drain); False if it took longer than the timeout."""
        task = asyncio.current_task()
        assert task is not None
        expired = False

        def expire() -> None:
            nonlocal expired
            expired = True
            task.cancel()

        timer = asyncio.get_running_loop().call_later(self.timeout, expire)
        try:
            await work
        except asyncio.CancelledError:
            if expired and task.uncancel() == 0:
                log.warning("ended a stream: its client read nothing for %g s", self.timeout)
                ABANDONED.set(True)
                return False
            raise
        finally:
            timer.cancel()
        return True
