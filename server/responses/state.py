"""ResponsesState: what the Responses wire keeps between requests (stored responses, the reasoning seal)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from fastapi import Request

from ..settings import ResponsesSettings, Settings, state_dir
from .seal import Seal, kept_secret
from .store import ResponseStore


@dataclass(frozen=True, slots=True)
class ResponsesState:
    store: ResponseStore
    seal: Seal

    @classmethod
    def of(cls, settings: ResponsesSettings, kept_in: Path) -> ResponsesState:
        given = settings.responses_secret
        # The given secret (replicas on several hosts share one), else the one kept in the state
        # directory, else one for this process alone.
        secret = given.get_secret_value().encode() if given is not None else kept_secret(kept_in)
        return cls(
            ResponseStore(settings.responses_store_size, settings.responses_store_ttl),
            Seal(secret or os.urandom(32)),
        )


def make(settings: Settings) -> ResponsesState:
    """The wire's state, from its section of the settings (the composition root calls this once)."""
    return ResponsesState.of(settings.responses, state_dir(settings.server))


def state(request: Request) -> ResponsesState:
    found: ResponsesState = request.app.state.responses
    return found
