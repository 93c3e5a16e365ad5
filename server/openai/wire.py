"""The OpenAI wire: chat and text completions, models, tokenize, and the hosted-only endpoints."""

from __future__ import annotations

from ..http.wire import Wire
from . import render
from .routes import router

WIRE = Wire("openai", router, render.error_body, generation_paths=("/v1/chat/completions", "/v1/completions"))
