"""The import-direction rules hold (the same check scripts/check runs)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest


def _checker() -> Any:
    path = Path(__file__).resolve().parent.parent / "scripts" / "check_layers.py"
    spec = importlib.util.spec_from_file_location("check_layers", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_layers_import_only_downward() -> None:
    assert _checker().violations() == []


@pytest.mark.parametrize(
    ("module", "name"),
    [
        ("parsers.glm", "json"),
        ("server.core.request", "parsers"),
        ("server.backends.local.engine", "server.core.events"),
        ("server.backends.local.engine", "vllm.inputs"),
        ("server.backends.remote.hosted", "server.settings"),
        ("server.backends.fake", "server.backends.local.prompt"),
        ("server.backends.choice", "server.backends.remote.hosted"),
        ("server.http.deps", "server.core.backend"),
        ("server.openai.routes", "server.http.deps"),
        ("server.anthropic.render", "server.http.sse"),
        ("server.standin.hosted", "server.http.sse"),
        ("server.app", "server.openai.routes"),
        ("server.bench.command", "server.bench.runner"),
        ("server.bench.client", "aiohttp"),
    ],
)
def test_downward_imports_pass(module: str, name: str) -> None:
    assert _checker().problems_of(module, name) == []


@pytest.mark.parametrize(
    ("module", "name"),
    [
        ("parsers.glm", "server.core"),
        ("server.core.request", "pydantic"),
        ("server.core.events", "server.backends.fake"),
        ("server.backends.local.engine", "server.backends.remote.http1"),
        ("server.backends.remote.upstream", "server.backends.local.prompt"),
        ("server.backends.local.prompt", "server.backends.choice"),
        ("server.backends.fake", "fastapi"),
        ("server.backends.remote.hosted", "server.http.sse"),
        ("server.http.deps", "server.openai.schema"),
        ("server.http.event_stream", "server.backends.local.engine"),
        ("server.openai.render", "server.anthropic.render"),
        ("server.anthropic.routes", "server.responses.render"),
        ("server.responses.routes", "server.openai.convert"),
        ("server.openai.routes", "server.backends.fake"),
        ("server.standin.hosted", "server.backends.remote.hosted_api"),
        ("server.settings", "server.app"),
        ("server.bench.client", "server.core.events"),
        ("server.standin.reply", "server.bench.scoring"),
    ],
)
def test_upward_and_sideways_imports_are_caught(module: str, name: str) -> None:
    assert _checker().problems_of(module, name)


def test_parsers_public_surface() -> None:
    import parsers

    for name in (
        "GlmParser",
        "parse",
        "ReasoningDelta",
        "TextDelta",
        "ToolCallStart",
        "ToolArgsDelta",
        "ToolCallEnd",
    ):
        assert name in parsers.__all__
        assert getattr(parsers, name)
