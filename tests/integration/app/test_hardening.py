"""Hardening over real HTTP with the fake backend: body limit, admission, slow readers, the drain, and
the 4xx that used to be 500s."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from server.app import create_app
from server.backends.fake import FakeBackend
from server.http.shutdown import DrainingServer
from server.settings import Settings
from tests.conftest import free_port, live_server, tcp_state
from tests.fake_server import WEATHER_TOOL, fake_server

CHAT = {"model": "glm-test", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 64}
MESSAGES = {"model": "glm-test", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 64}
RESPONSES = {"model": "glm-test", "input": "hi"}
LONG = "word " * 400  # 400 pieces: with a delay per piece, a stream that runs until it is ended


def raw_request(
    port: int, path: str, head: dict[str, str], body: bytes, method: str = "POST", host: str = "test"
) -> bytes:
    """Sends a request head and `body` (which may be shorter than it says) and reads the whole answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        lines = [f"{method} {path} HTTP/1.1", f"host: {host}", *(f"{k}: {v}" for k, v in head.items())]
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
        return answer


def answer_of(port: int, path: str, head: dict[str, str], body: bytes) -> bytes:
    """Like raw_request, but reads only the answer (its Content-Length), not until the server closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        lines = [f"POST {path} HTTP/1.1", "host: test", *(f"{k}: {v}" for k, v in head.items())]
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        answer = b""
        while b"\r\n\r\n" not in answer or len(answer.partition(b"\r\n\r\n")[2]) < _length(answer):
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
        return answer


def _length(answer: bytes) -> int:
    for line in answer.partition(b"\r\n\r\n")[0].split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0


def port_of(base: str) -> int:
    return int(base.rsplit(":", 1)[1])


# -- body limit ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "shape"),
    [
        ("/v1/chat/completions", lambda b: b["error"]["type"] == "invalid_request_error"),
        ("/v1/responses", lambda b: b["error"]["type"] == "invalid_request_error"),
        ("/v1/messages", lambda b: b["type"] == "error" and b["error"]["type"] == "request_too_large"),
    ],
)
def test_a_body_over_the_limit_is_refused_unread(path: str, shape: object) -> None:
    with fake_server(max_body_mb=1) as (base, _):
        start = time.monotonic()
        # The head promises 50 MB; only 1 KB follows. A server that read before refusing would wait.
        # (The connection closes later: the server reads what follows for a while, so that a client
        # still sending is not reset before it reads this answer.)
        answer = answer_of(
            port_of(base),
            path,
            {"content-type": "application/json", "content-length": "50000000"},
            b"{" * 1024,
        )
        took = time.monotonic() - start
    head, _, payload = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413"), head
    assert b"connection: close" in head.lower()
    body = json.loads(payload)
    assert callable(shape) and shape(body), body
    assert "--max-body-mb" in json.dumps(body)
    assert took < 5


def test_an_async_client_sending_a_big_body_gets_the_413_not_a_reset() -> None:
    """httpx's async client (the openai SDK's, most agent frameworks') writes its whole body before it
    reads: a server that closed at once reset it mid-write (8 of 8 tries with 50 MB). The rest of the
    body is read and dropped first, so the answer arrives."""

    async def tries(base: str) -> list[int]:
        body = (
            b'{"model": "glm-test", "messages": [{"role": "user", "content": "' + b"x" * 50_000_000 + b'"}]}'
        )
        async with httpx.AsyncClient(timeout=60) as client:
            statuses = []
            for _ in range(4):
                r = await client.post(
                    base + "/v1/chat/completions", content=body, headers={"content-type": "application/json"}
                )
                statuses.append(r.status_code)
                assert "--max-body-mb" in r.json()["error"]["message"]
            return statuses

    with fake_server(max_body_mb=1) as (base, backend):
        assert asyncio.run(tries(base)) == [413] * 4
        assert backend.opened == 0


def test_a_client_waiting_for_100_continue_is_refused_without_sending() -> None:
    with fake_server(max_body_mb=1) as (base, _):
        start = time.monotonic()
        answer = raw_request(
            port_of(base),
            "/v1/chat/completions",
            {"content-type": "application/json", "content-length": "50000000", "expect": "100-continue"},
            b"",
        )
        assert answer.startswith(b"HTTP/1.1 413") and time.monotonic() - start < 5  # closed at once


def test_a_chunked_body_is_counted_as_it_arrives() -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"model": "glm-test", "messages": [{"role": "user", "content": "'
        for _ in range(30):
            yield b"x" * 100_000
        yield b'"}]}'

    with fake_server(max_body_mb=1) as (base, backend):
        r = httpx.post(
            base + "/v1/chat/completions", content=chunks(), headers={"content-type": "application/json"}
        )
        assert r.status_code == 413, r.text
        assert "--max-body-mb" in r.json()["error"]["message"]
        assert backend.opened == 0
        # Under the limit, the same way in: served.
        small = httpx.post(
            base + "/v1/chat/completions",
            content=iter([json.dumps(CHAT).encode()]),
            headers={"content-type": "application/json"},
        )
        assert small.status_code == 200, small.text


# -- admission ----------------------------------------------------------------------------------------------


class Streams:
    """n streamed chat requests held open (each read past its first chunk) until closed."""

    def __init__(
        self, base: str, n: int, body: dict[str, object] | None = None, headers: dict[str, str] | None = None
    ) -> None:
        self.client = httpx.Client(base_url=base, timeout=30, headers=headers)
        self.responses = []
        self.lines = []  # kept: a line iterator that is collected closes its connection
        for _ in range(n):
            r = self.client.send(
                self.client.build_request(
                    "POST", "/v1/chat/completions", json={**(body or CHAT), "stream": True}
                ),
                stream=True,
            )
            assert r.status_code == 200, r.read()
            lines = r.iter_lines()
            next(lines)
            self.responses.append(r)
            self.lines.append(lines)

    def close(self) -> None:
        for r in self.responses:
            r.close()
        self.client.close()


def metric(base: str, name: str) -> float:
    for line in httpx.get(base + "/metrics").text.splitlines():
        if line.startswith(name):
            return float(line.split()[-1])
    raise AssertionError(f"{name} not in /metrics")


def test_past_the_queue_bound_a_request_gets_429_with_retry_after() -> None:
    with fake_server(LONG, delay=0.05, batch=2, max_queued_requests=1) as (base, backend):
        assert httpx.get(base + "/health").json()["status"] == "ok"
        held = Streams(base, 3)  # two running, one queued: the bound
        try:
            assert metric(base, "glm_serve:queued_requests") == 1
            health = httpx.get(base + "/health")
            assert (health.status_code, health.json()["status"]) == (200, "saturated")
            start = time.monotonic()
            r = httpx.post(base + "/v1/chat/completions", json={**CHAT, "stream": True})
            took = time.monotonic() - start
            assert r.status_code == 429, r.text
            assert int(r.headers["retry-after"]) >= 1
            assert (
                r.json()["error"]["type"] == "rate_limit_error" or r.json()["error"]["code"] == "rate_limit"
            )
            a = httpx.post(base + "/v1/messages", json=MESSAGES)
            assert a.status_code == 429 and a.json()["error"]["type"] == "rate_limit_error", a.text
            assert "retry-after" in a.headers
            # Refused at the door, before the body is read: a body still on its way (or never coming)
            # does not hold the answer up.
            head = {"content-type": "application/json", "content-length": "100000", "connection": "close"}
            partial = raw_request(port_of(base), "/v1/chat/completions", head, b'{"model": "glm-')
            assert partial.startswith(b"HTTP/1.1 429") and b"retry-after" in partial.lower(), partial[:300]
            assert metric(base, 'glm_serve:rejected_requests_total{reason="queue_full"}') == 3
            assert (
                took < 1
            )  # refused at once, not after a wait (the bound is 50 ms on a quiet machine)
            assert backend.opened == 3
        finally:
            held.close()
        deadline = time.monotonic() + 10
        while backend.closed < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert httpx.post(base + "/v1/chat/completions", json=CHAT).status_code == 200


# -- routing: no redirects, HEAD -----------------------------------------------------------------------------


def test_no_redirect_is_answered_and_no_host_of_the_clients_choosing_comes_back() -> None:
    """A trailing slash once got a 307 before authentication, its Location built from the Host header."""
    with fake_server("hi", api_key="k3y") as (base, _):
        for path in ("/metrics/", "/health/", "/v1/models/", "/v1/responses/", "/openapi.json/"):
            for method in ("GET", "POST"):
                head = {"connection": "close", "content-length": "0"}
                answer = raw_request(port_of(base), path, head, b"", method=method, host="evil.example")
                status = answer.split(b" ", 2)[1]
                assert status == b"404", (path, method, answer[:200])
                assert b"location:" not in answer.lower() and b"evil.example" not in answer, answer


def test_head_is_answered_wherever_get_is() -> None:
    with fake_server("hi", api_key="k3y") as (base, _):
        auth = {"Authorization": "Bearer k3y"}
        for path in ("/v1/models", "/health", "/metrics", "/openapi.json"):
            got = httpx.get(base + path, headers=auth)
            head = httpx.head(base + path, headers=auth)
            assert (head.status_code, got.status_code) == (200, 200), path
            assert head.content == b"" and head.headers["content-type"] == got.headers["content-type"], path
            assert int(head.headers["content-length"]) > 0, path
        assert httpx.head(base + "/v1/models").status_code == 401  # the same rules as its GET
        assert httpx.head(base + "/health").status_code == 200  # /health answers without the key
        # Where only POST is served, the 405 says so; where GET is, HEAD is listed beside it.
        posted = httpx.head(base + "/v1/chat/completions", headers=auth)
        assert posted.status_code == 405 and posted.headers["allow"] == "POST"
        deleted = httpx.request("DELETE", base + "/v1/models", headers=auth)
        assert deleted.status_code == 405 and deleted.headers["allow"] == "GET, HEAD"


def test_a_full_server_asks_for_the_key_before_it_says_it_is_full() -> None:
    with fake_server(LONG, api_key="k3y", delay=0.05, batch=1, max_queued_requests=0) as (base, _):
        auth = {"Authorization": "Bearer k3y"}
        held = Streams(base, 1, headers=auth)
        try:
            assert httpx.post(base + "/v1/chat/completions", json=CHAT).status_code == 401
            assert (
                httpx.post(base + "/v1/messages", json=MESSAGES, headers={"x-api-key": "no"}).status_code
                == 401
            )
            full = httpx.post(base + "/v1/responses", json=RESPONSES, headers=auth)
            assert full.status_code == 429 and full.json()["error"]["type"] == "rate_limit_error", full.text
        finally:
            held.close()


# -- slow readers -------------------------------------------------------------------------------------------


def test_a_client_that_stops_reading_is_closed_and_its_request_ended() -> None:
    script = "x" * 4_000 + " " + "word " * 200_000  # ~30 MB of SSE: more than any socket buffer holds
    with fake_server(script, stream_write_timeout=0.5) as (base, backend):
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", port_of(base)))
        payload = json.dumps({**CHAT, "max_tokens": 300_000, "stream": True}).encode()
        head = (
            "POST /v1/chat/completions HTTP/1.1\r\nhost: t\r\ncontent-type: application/json\r\n"
            f"content-length: {len(payload)}\r\n\r\n"
        )
        sock.sendall(head.encode() + payload)
        assert sock.recv(64).startswith(b"HTTP/1.1 200")
        try:
            deadline = time.monotonic() + 20
            while backend.closed == 0 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert backend.closed == 1  # the backend stream was ended: an engine request would be aborted
            # Its connection was reset, not left open with megabytes queued: the server's end is gone
            # from the kernel's table within a second.
            client_port = sock.getsockname()[1]
            deadline = time.monotonic() + 1
            while tcp_state(port_of(base), client_port) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert tcp_state(port_of(base), client_port) is None
            with pytest.raises(ConnectionResetError):
                while sock.recv(1 << 20):
                    pass
            # The server stays healthy for everyone else.
            assert httpx.post(base + "/v1/chat/completions", json=CHAT).status_code == 200
        finally:
            sock.close()


# -- the drain at SIGTERM -----------------------------------------------------------------------------------


def test_sigterm_ends_every_stream_with_its_wires_terminal() -> None:
    backend = FakeBackend(LONG, model="glm-test", delay=0.05)
    settings = Settings(backend="fake", shutdown_grace=0.5)
    app = create_app(settings, backend)
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", timeout_graceful_shutdown=5
    )
    server = DrainingServer(config, app.state.serving.gate, settings.limits.shutdown_grace)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)

    tails: dict[str, list[str]] = {}

    def read(path: str, body: dict[str, object]) -> None:
        with httpx.stream("POST", base + path, json={**body, "stream": True}, timeout=30) as r:
            assert r.status_code == 200
            tails[path] = [line for line in r.iter_lines() if line]

    readers = [
        threading.Thread(target=read, args=(path, body))
        for path, body in (
            ("/v1/chat/completions", CHAT),
            ("/v1/messages", MESSAGES),
            ("/v1/responses", RESPONSES),
        )
    ]
    for r in readers:
        r.start()
    while backend.opened < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    start = time.monotonic()
    server.handle_exit(signal.SIGTERM, None)
    for r in readers:
        r.join(15)
    thread.join(15)
    took = time.monotonic() - start
    assert not thread.is_alive()
    assert took < 0.5 + 5

    chat = tails["/v1/chat/completions"]
    assert chat[-1] == "data: [DONE]"
    assert "shutting down" in json.loads(chat[-2].removeprefix("data: "))["error"]["message"]
    messages = tails["/v1/messages"]
    assert messages[-2] == "event: error"
    assert json.loads(messages[-1].removeprefix("data: "))["error"]["type"] == "overloaded_error"
    responses = tails["/v1/responses"]
    assert responses[-2] == "event: response.failed"
    assert json.loads(responses[-1].removeprefix("data: "))["response"]["status"] == "failed"
    assert backend.closed == 3


# -- what used to be 500s -----------------------------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/chat/completions", CHAT),
        ("/v1/completions", {"model": "glm-test", "prompt": "hi", "max_tokens": 4}),
        ("/v1/messages", MESSAGES),
    ],
)
def test_a_seed_outside_64_bits_is_a_400(path: str, body: dict[str, object], stream: bool) -> None:
    with fake_server() as (base, backend):
        for seed in (2**64, -(2**63) - 1):
            r = httpx.post(base + path, json={**body, "seed": seed, "stream": stream})
            assert r.status_code == 400, r.text
            assert "seed" in r.text
        assert httpx.post(base + path, json={**body, "seed": 2**64 - 1}).status_code == 200
        assert backend.opened == 1


def test_lone_surrogates_are_invalid_unicode_on_every_route() -> None:
    raw = b'{"model": "glm-test", "messages": [{"role": "user", "content": "a\\ud800b"}], "max_tokens": 4}'
    with fake_server() as (base, backend):
        for path in ("/v1/chat/completions", "/v1/messages", "/v1/messages/count_tokens", "/tokenize"):
            r = httpx.post(base + path, content=raw, headers={"content-type": "application/json"})
            assert r.status_code == 400, (path, r.text)
            assert "invalid Unicode" in r.text, (path, r.text)
        assert backend.opened == 0


def test_tokenize_without_messages_is_a_400() -> None:
    with fake_server() as (base, _):
        r = httpx.post(base + "/tokenize", json={"model": "glm-test", "messages": []})
        assert r.status_code == 400
        assert "messages" in r.text


def test_a_tool_schema_that_is_not_json_schema_is_a_400_naming_the_tool() -> None:
    bad = json.loads(json.dumps(WEATHER_TOOL))
    bad["function"]["parameters"]["properties"]["city"]["type"] = "objekt"
    with fake_server() as (base, backend):
        for choice in ("auto", "required"):
            r = httpx.post(
                base + "/v1/chat/completions",
                json={**CHAT, "tools": [WEATHER_TOOL, bad], "tool_choice": choice},
            )
            assert r.status_code == 400, r.text
            message = r.json()["error"]["message"]
            assert "get_weather" in message and "objekt" in message
            assert r.json()["error"]["param"].startswith("tools[1]")
        anthropic_tool = {"name": "t", "input_schema": {"type": "object", "properties": {"a": {"type": 3}}}}
        r = httpx.post(base + "/v1/messages", json={**MESSAGES, "tools": [anthropic_tool]})
        assert r.status_code == 400 and r.json()["type"] == "error", r.text
        assert backend.opened == 0


def test_every_route_checks_the_key_before_reading_the_body() -> None:
    with fake_server(api_key="sekret") as (base, _):
        for path in ("/v1/chat/completions", "/v1/messages", "/v1/messages/count_tokens", "/tokenize"):
            r = httpx.post(base + path, content=b"not json", headers={"content-type": "text/plain"})
            assert r.status_code == 401, (path, r.text)
        # With the key, a body that is JSON is read whatever the content type says, on every route.
        for path in ("/v1/chat/completions", "/tokenize"):
            r = httpx.post(
                base + path,
                content=json.dumps(CHAT).encode(),
                headers={"content-type": "text/plain", "authorization": "Bearer sekret"},
            )
            assert r.status_code == 200, (path, r.text)


def test_health_without_the_key_says_only_its_status(tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    key_file.write_text("from-a-file\n")
    app = create_app(Settings(backend="fake", api_key_file=key_file), FakeBackend(model="glm-test"))
    with live_server(app, ready_path="/health") as base:
        assert httpx.get(base + "/health").json() == {"status": "ok"}
        full = httpx.get(base + "/health", headers={"authorization": "Bearer from-a-file"}).json()
        assert full["status"] == "ok" and full["backend"] == "fake"
        assert httpx.get(base + "/v1/models").status_code == 401


def test_the_key_is_given_once() -> None:
    with pytest.raises(ValueError, match="give the API key once"):
        Settings(api_key="a", api_key_file=Path("/dev/null"))


def gaps_while(base: str, request: Callable[[], httpx.Response]) -> tuple[httpx.Response, float, float]:
    """Runs `request` while four paced streams run and /health is polled: its answer, the largest gap
    between chunks any stream saw meanwhile, and the slowest /health."""
    gaps = [0.0] * 4
    stop = threading.Event()

    def read(i: int) -> None:
        with httpx.stream(
            "POST", base + "/v1/chat/completions", json={**CHAT, "max_tokens": 400, "stream": True}
        ) as r:
            previous = None
            for line in r.iter_lines():
                now = time.monotonic()
                if line and previous is not None and not stop.is_set():
                    gaps[i] = max(gaps[i], now - previous)
                previous = now

    health: list[float] = []

    def poll() -> None:
        while not stop.is_set():
            t = time.monotonic()
            httpx.get(base + "/health")
            health.append(time.monotonic() - t)
            time.sleep(0.01)

    threads = [threading.Thread(target=read, args=(i,)) for i in range(4)]
    poller = threading.Thread(target=poll)
    for t in [*threads, poller]:
        t.start()
    time.sleep(0.5)
    answer = request()
    time.sleep(0.2)
    stop.set()
    for t in [*threads, poller]:
        t.join(30)
    return answer, max(gaps), max(health)


def test_a_prompt_of_a_million_characters_stalls_no_one() -> None:
    huge = {**CHAT, "messages": [{"role": "user", "content": "word " * 200_000}]}
    with fake_server(LONG, delay=0.02) as (base, _):
        r, gap, health = gaps_while(
            base, lambda: httpx.post(base + "/v1/chat/completions", json=huge, timeout=30)
        )
    assert r.status_code == 400 and "context" in r.text.lower(), r.text
    # Streams paced at 20 ms a token and a /health poller kept going: a stalled event loop would show
    # here as a gap of the whole request's length. (The bound is 100 ms; this machine is noisy.)
    assert gap < 1.0 and health < 1.0, (gap, health)
