"""The Anthropic wire: Messages and token counting, errors in Anthropic's shape."""

from __future__ import annotations

from ..http.wire import Wire
from . import render
from .routes import router

WIRE = Wire("anthropic", router, render.error_body, generation_paths=("/v1/messages",))
