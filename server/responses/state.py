"""ResponsesState: what the Responses wire keeps between requests (stored responses, the reasoning seal)."""

from __future__ import annotations

import os
from dataclasses import dataclass

from fastapi import Request

from ..settings import ResponsesSettings, Settings
from .seal import Seal
from .store import ResponseStore


@dataclass(frozen=True, slots=True)
class ResponsesState:
    store: ResponseStore
    seal: Seal

    @classmethod
    def of(cls, settings: ResponsesSettings) -> ResponsesState:
        secret = settings.responses_secret
        return cls(
            ResponseStore(settings.responses_store_size, settings.responses_store_ttl),
            # A random secret unless one is given: replicas behind one load balancer must share one.
            Seal(secret.get_secret_value().encode() if secret is not None else os.urandom(32)),
        )


def make(settings: Settings) -> ResponsesState:
    """The wire's state, from its section of the settings (the composition root calls this once)."""
    return ResponsesState.of(settings.responses)


def state(request: Request) -> ResponsesState:
    found: ResponsesState = request.app.state.responses
    return found
