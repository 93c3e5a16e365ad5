"""Wire: one API format as the app sees it (its router and its error shape); each wire package makes one.

The composition root lists the wires; it never knows their URLs. An error is rendered in the shape of
the wire whose routes the request's path belongs to (OpenAI's when none does: a 404, /health).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter
from starlette.routing import BaseRoute, Match
from starlette.types import Scope

from ..core.errors import ServerError
from ..settings import Settings


@dataclass(frozen=True, slots=True)
class Wire:
    name: str
    router: APIRouter
    error_body: Callable[[ServerError], dict[str, Any]]
    # The routes that generate (POST): admitted by the gate, refused at the door when it is full.
    generation_paths: tuple[str, ...] = ()
    # What the wire keeps between requests, made once from the settings; it lives on app.state.<name>.
    make_state: Callable[[Settings], object] | None = None

    def owns(self, scope: Scope) -> bool:
        """Whether the request's path is one of this wire's routes (whatever its method)."""
        return any(_matches(route, scope) for route in self.router.routes)


def _matches(route: BaseRoute, scope: Scope) -> bool:
    return route.matches(scope)[0] is not Match.NONE


def wire_of(wires: Sequence[Wire], scope: Scope) -> Wire | None:
    return next((wire for wire in wires if wire.owns(scope)), None)
