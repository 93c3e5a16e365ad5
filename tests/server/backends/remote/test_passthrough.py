"""Hosted-only endpoints: /v1/embeddings and /v1/images/generations reach the hosted API when a key is
set (whatever backend serves chat), and are a clear 501 when none is or the deployment is offline."""

from __future__ import annotations

import math

import httpx
import openai
import pytest
from fastapi import FastAPI

from server.app import create_app
from server.backends.fake import FakeBackend
from server.settings import Settings
from tests.conftest import STANDIN_KEY, live_server

KEY = STANDIN_KEY  # the `standin` fixture's (tests/conftest.py)


def test_embeddings_and_images_pass_through_beside_a_local_backend(
    standin: tuple[str, FastAPI], monkeypatch: pytest.MonkeyPatch
) -> None:
    base_url, app = standin
    monkeypatch.setenv("BIGMODEL_API_KEY", KEY)
    settings = Settings(backend="fake", hosted_base_url=base_url)
    with (
        live_server(create_app(settings, FakeBackend(model="glm-test"))) as base,
        openai.OpenAI(base_url=base + "/v1", api_key="x", max_retries=0) as c,
    ):
        vectors = c.embeddings.create(model="embedding-3", input=["hello", "world", "hello"], dimensions=256)
        assert [len(d.embedding) for d in vectors.data] == [256, 256, 256]
        assert vectors.data[0].embedding == vectors.data[2].embedding != vectors.data[1].embedding
        assert math.isclose(sum(x * x for x in vectors.data[0].embedding), 1.0, rel_tol=1e-6)
        # The SDK asked for base64 (its default); the hosted API got a plain request, floats came back.
        sent = {"model": "embedding-3", "input": ["hello", "world", "hello"], "dimensions": 256}
        assert app.state.requests[-1] == sent
        plain = httpx.post(base + "/v1/embeddings", json={"input": "hello", "dimensions": 4}).json()
        decoded = c.embeddings.create(input="hello", model="embedding-3", dimensions=4).data[0].embedding
        assert plain["data"][0]["embedding"] == pytest.approx(decoded, rel=1e-6)
        image = c.images.generate(model="cogview-4", prompt="a lighthouse at dusk", size="1024x1024")
        assert image.data and image.data[0].url and image.data[0].url.endswith(".png")
        assert app.state.requests[-1]["size"] == "1024x1024"
        with pytest.raises(openai.NotFoundError) as unknown:
            c.embeddings.create(model="embedding-9", input="x")
        assert "1211" in str(unknown.value)  # the hosted API's code, translated as for chat


def test_without_a_key_or_offline_they_are_501(
    standin: tuple[str, FastAPI], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BIGMODEL_API_KEY", raising=False)
    monkeypatch.delenv("ZAI_API_KEY", raising=False)
    for settings in (
        Settings(backend="fake"),
        Settings(backend="fake", offline=True),
    ):
        if settings.engine.offline:
            monkeypatch.setenv("BIGMODEL_API_KEY", KEY)  # a key, but offline: still never the hosted API
        with live_server(create_app(settings, FakeBackend(model="glm-test"))) as base:
            for path, body in (
                ("/v1/embeddings", {"input": "x"}),
                ("/v1/images/generations", {"prompt": "x"}),
            ):
                r = httpx.post(base + path, json=body)
                assert r.status_code == 501
                error = r.json()["error"]
                assert error["type"] == "not_implemented" and "BIGMODEL_API_KEY" in error["message"]
