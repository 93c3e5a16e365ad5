"""What a newcomer reaches for first: GET /, /docs behind the key, `model` left out, 503s that say when."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import httpx
import pytest

from server.app import create_app
from server.backends.fake import FakeBackend
from server.core.backend import Health
from server.http.deps import only_model
from server.settings import Settings
from tests.conftest import live_server
from tests.fake_server import fake_server

KEY = {"Authorization": "Bearer s3cret"}


def test_the_root_says_what_serves_here_and_more_to_a_key_holder() -> None:
    with fake_server(api_key="s3cret") as (base, _):
        anonymous = httpx.get(base + "/")
        assert anonymous.status_code == 200
        assert anonymous.json() == {
            "name": "glm-serve",
            "version": anonymous.json()["version"],
            "state": "ready",
        }
        full = httpx.get(base + "/", headers=KEY).json()
        assert full["models"] == ["glm-test"] and full["docs"] == "/docs"
        assert full["apis"]["anthropic"] == "/v1/messages"
        # The base URL a client is given answers too (it was a 404).
        assert httpx.get(base + "/v1", headers=KEY).json() == full


def test_the_docs_page_is_behind_the_key_and_carries_the_document() -> None:
    with fake_server(api_key="s3cret") as (base, _):
        assert httpx.get(base + "/docs").status_code == 401
        page = httpx.get(base + "/docs", headers=KEY)
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        # The document is inlined: the browser's own fetch of /openapi.json would carry no key.
        assert "SwaggerUIBundle" in page.text and '"/v1/chat/completions"' in page.text


def test_a_request_without_a_model_is_for_the_one_model_served() -> None:
    user = [{"role": "user", "content": "hi"}]
    with fake_server() as (base, _):
        chat = httpx.post(base + "/v1/chat/completions", json={"messages": user}).json()
        assert chat["model"] == "glm-test" and chat["choices"][0]["message"]["content"] == "Hello there!"
        message = httpx.post(base + "/v1/messages", json={"max_tokens": 50, "messages": user}).json()
        assert message["model"] == "glm-test" and message["content"][-1]["text"] == "Hello there!"
        # The Responses API requires it (OpenAI's and the Open Responses specification's rule).
        response = httpx.post(base + "/v1/responses", json={"input": "hi"})
        assert response.status_code == 400 and response.json()["error"]["param"] == "model"
        count = httpx.post(base + "/v1/messages/count_tokens", json={"messages": user})
        assert count.status_code == 200 and count.json()["input_tokens"] > 0
        # A model named that is not served is still a 404, as before.
        wrong = httpx.post(base + "/v1/chat/completions", json={"model": "gpt-4o", "messages": user})
        assert wrong.status_code == 404


def test_a_server_of_several_models_asks_for_one() -> None:
    class Two(FakeBackend):
        def model_ids(self) -> list[str]:
            return ["glm-a", "glm-b"]

    with pytest.raises(Exception, match=r"model is required: this server serves \['glm-a', 'glm-b'\]"):
        only_model(Two())


def test_health_says_when_to_come_back_while_loading() -> None:
    class Loading(FakeBackend):
        async def health(self) -> Health:
            return Health(False, "loading the model", self.name, loading=True)

    with live_server(create_app(Settings(backend="fake"), Loading())) as base:
        health = httpx.get(base + "/health")
        assert health.status_code == 503 and health.headers["retry-after"] == "5"
        assert health.json()["status"] == "loading"
        assert httpx.get(base + "/").json()["state"] == "loading"


def _log_lines(level: str, form: str) -> list[str]:
    """Lines logged through logs.configure in a fresh process: our own, vLLM's, uvicorn's, a warning."""
    program = f"""
import logging, warnings
from server import logs
logs.configure({level!r}, {form!r}, environ={{}})
logging.getLogger("glm_serve").info("ours")
core = logging.getLogger("vllm.v1.engine.core")
core.info("Initializing a V1 LLM engine (v0.32.0) with config: model='m', download_dir=None")
logging.getLogger("vllm.model_executor.model_loader.default_loader").info("Loading weights took 0.01 seconds")
logging.getLogger("vllm.v1.worker.cpu_worker").warning("libtcmalloc is not found in LD_PRELOAD.")
for _ in range(3):
    logging.getLogger("vllm.config").warning("a warning we do not know")
access = logging.getLogger("uvicorn.access")
access.info('%s - "%s %s HTTP/%s" %d', "1.2.3.4:5", "GET", "/health", "1.1", 200)
access.info('%s - "%s %s HTTP/%s" %d', "1.2.3.4:5", "POST", "/v1/messages", "1.1", 200)
logging.getLogger("uvicorn.error").info("Application startup complete.")
warnings.warn("a library's warning", UserWarning)
warnings.warn("a library's warning", UserWarning)
"""
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=60, env=os.environ | {}
    )
    assert done.returncode == 0, done.stderr
    return done.stderr.strip().splitlines()


def test_the_log_keeps_progress_and_drops_noise() -> None:
    lines = _log_lines("info", "text")
    text = "\n".join(lines)
    assert "glm_serve: ours" in text and "Loading weights took" in text
    assert "with config" not in text and "libtcmalloc" not in text and "/health" not in text
    assert "startup complete" not in text
    assert text.count("a warning we do not know") == 1 and text.count("a library's warning") == 1
    assert '"POST /v1/messages HTTP/1.1" 200' in text
    # One timestamp format on every line: 2026-12-07 19:30:08 LEVEL name: message.
    assert all(line[:4].isdigit() and line[10] == " " and line[19] == " " for line in lines), lines
    # At debug everything passes, noise included.
    debug = "\n".join(_log_lines("debug", "text"))
    assert "with config" in debug and "/health" in debug


def test_json_logs_are_one_object_a_line() -> None:
    records: list[dict[str, Any]] = [json.loads(line) for line in _log_lines("info", "json")]
    assert {"asctime", "levelname", "name", "request_id", "message"} <= set(records[0])
    assert [r["message"] for r in records if r["name"] == "glm_serve"] == ["ours"]
