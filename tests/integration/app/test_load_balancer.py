"""The many-replica recipe: HAProxy (configs/haproxy/glm-serve.cfg) in front of two glm-serve replicas
spreads sessions, keeps each session on one replica, and moves them when /health says a replica is down."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

from server.app import create_app
from server.backends.fake import FakeBackend
from server.core.backend import Health
from server.settings import Settings
from tests.conftest import ROOT, free_port, live_server

HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"
pytestmark = pytest.mark.skipif(
    not os.path.exists(HAPROXY),
    reason="haproxy is not installed (scripts/setup installs it with apt where it can)",
)


class Replica(FakeBackend):
    """A fake-backend replica that answers with its own name and can be made unhealthy."""

    def __init__(self, name: str) -> None:
        super().__init__(f"</think>{name}", model="glm-test", name=name)
        self.ready = True

    async def health(self) -> Health:
        return Health(self.ready, "up" if self.ready else "the engine has stopped", self.name)


@contextmanager
def haproxy(replicas: list[str]) -> Iterator[str]:
    front = f"127.0.0.1:{free_port()}"
    env = {**os.environ, "FRONTEND": front, "REPLICA_1": replicas[0], "REPLICA_2": replicas[1]}
    proc = subprocess.Popen(
        [HAPROXY, "-db", "-f", str(ROOT / "configs" / "haproxy" / "glm-serve.cfg")],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://{front}"
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                if httpx.get(base + "/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        proc.wait(10)


def ask(base: str, headers: dict[str, str]) -> str:
    body: dict[str, Any] = {"model": "glm-test", "messages": [{"role": "user", "content": "hi"}]}
    r = httpx.post(base + "/v1/chat/completions", json=body, headers=headers, timeout=10)
    assert r.status_code == 200, r.text
    return str(r.json()["choices"][0]["message"]["content"])


def test_sessions_spread_stick_and_move_when_a_replica_goes_down() -> None:
    one, two = Replica("replica-1"), Replica("replica-2")
    with (
        live_server(create_app(Settings(backend="fake"), one)) as a,
        live_server(create_app(Settings(backend="fake"), two)) as b,
        haproxy([a.removeprefix("http://"), b.removeprefix("http://")]) as lb,
    ):
        time.sleep(2.5)  # both replicas pass their first health checks
        sessions = {f"session-{i}": ask(lb, {"x-claude-code-session-id": f"session-{i}"}) for i in range(24)}
        assert set(sessions.values()) == {"replica-1", "replica-2"}  # spread
        for session, replica in list(sessions.items())[:6]:  # sticky, also through other kinds of key
            assert {ask(lb, {"x-claude-code-session-id": session}) for _ in range(5)} == {replica}
        codex = {ask(lb, {"session-id": "codex-7"}) for _ in range(5)}
        keyed = {ask(lb, {"authorization": "Bearer team-key-1"}) for _ in range(5)}
        assert len(codex) == 1 and len(keyed) == 1
        # replica-1's engine dies: /health says 503, HAProxy takes it out, its sessions move.
        one.ready = False
        time.sleep(3)
        moved = [s for s, r in sessions.items() if r == "replica-1"]
        assert {ask(lb, {"x-claude-code-session-id": s}) for s in moved} == {"replica-2"}
        # It recovers: its sessions come back to it (consistent hashing), the others never moved.
        one.ready = True
        time.sleep(3)
        assert {s: ask(lb, {"x-claude-code-session-id": s}) for s in sessions} == sessions
