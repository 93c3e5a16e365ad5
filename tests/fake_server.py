"""A fake-backed app served over real HTTP, and the scripts it replays."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import openai

from parsers import render_tool_call
from server.app import create_app
from server.backends.fake import FakeBackend, Script
from server.settings import Settings
from tests.conftest import live_server

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
            "required": ["city"],
        },
    },
}
READ_TOOL = {
    "type": "function",
    "function": {
        "name": "read_file",
        "parameters": {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]},
    },
}

TOOL_SCRIPT = (
    "I need the weather for two cities."
    "</think>Checking both."
    + render_tool_call("get_weather", {"city": "Paris", "days": 2}, "glm47")
    + render_tool_call("get_weather", {"city": "東京", "days": 1}, "glm47")
)


@contextmanager
def fake_server(
    script: str | Script = "Thinking.</think>Hello there!",
    *,
    api_key: str | None = None,
    delay: float = 0.0,
    context_length: int = 8192,
    vision: bool = False,
    batch: int | None = None,
    **settings_: Any,
) -> Iterator[tuple[str, FakeBackend]]:
    backend = FakeBackend(
        script, model="glm-test", delay=delay, context_length=context_length, vision=vision, batch=batch
    )
    settings = Settings(backend="fake", api_key=api_key, **settings_)
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else None
    with live_server(create_app(settings, backend), headers=headers) as base:
        try:
            yield base, backend
        finally:
            for c in _clients.pop(base, []):
                c.close()


_clients: dict[str, list[openai.OpenAI]] = {}


def client(base: str, key: str = "unused") -> openai.OpenAI:
    """An SDK client for `base`, closed when its server stops."""
    c = openai.OpenAI(base_url=base + "/v1", api_key=key, max_retries=0)
    _clients.setdefault(base, []).append(c)
    return c
