"""DrainingServer: uvicorn's server, which at SIGTERM also drains the gate instead of cutting streams."""

from __future__ import annotations

import asyncio
import socket
from types import FrameType

import uvicorn

from .gate import Gate


class DrainingServer(uvicorn.Server):
    """At SIGTERM (or SIGINT) uvicorn stops accepting connections and waits for the open ones; this
    also starts the gate's drain, so that streams run on for the grace period and then end with their
    wire's error terminal. uvicorn's own cut, a few seconds later, is only the backstop."""

    def __init__(self, config: uvicorn.Config, gate: Gate, grace: float) -> None:
        super().__init__(config)
        self.gate = gate
        self.grace = grace
        self.loop: asyncio.AbstractEventLoop | None = None
        self.stopped_by: int | None = None  # the signal that stopped it (the command's exit status says)

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        self.loop = asyncio.get_running_loop()
        await super().startup(sockets)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self.stopped_by = self.stopped_by or sig
        # A signal handler: the loop is told from here, and acts on its next turn.
        if not self.gate.draining and self.loop is not None:
            self.loop.call_soon_threadsafe(self.gate.drain, self.grace)
        super().handle_exit(sig, frame)
