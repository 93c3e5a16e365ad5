"""HttpSession on real local sockets: body framings, keep-alive, stale connections, timeouts, TLS, proxies."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
import trustme

from server.backends.remote.http_session import HttpSession, TransportFailure

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
KEY = "sk-secret-never-shown"


class Origin:
    """A scripted HTTP server: counts connections and requests, answers with `answer(request)`."""

    def __init__(self, answer: Callable[[bytes], bytes], *, close_after: bool = False) -> None:
        self.answer = answer
        self.close_after = close_after
        self.connections = 0
        self.requests: list[bytes] = []
        self.writers: list[asyncio.StreamWriter] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.writers.append(writer)
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    int(line.split(b":")[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                )
                request = head + await reader.readexactly(length)
                self.requests.append(request)
                writer.write(self.answer(request))
                await writer.drain()
                if self.close_after:
                    break
        writer.close()


@contextlib.asynccontextmanager
async def serving(handler: Handler, tls: ssl.SSLContext | None = None) -> AsyncIterator[int]:
    """A local server running `handler` per connection; on exit its connections are closed too."""
    tasks: set[asyncio.Task[None]] = set()

    async def tracked(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        tasks.add(task)
        try:
            await handler(reader, writer)
        finally:
            writer.close()

    server = await asyncio.start_server(tracked, "127.0.0.1", 0, ssl=tls)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await server.wait_closed()


def chunked(*parts: bytes, trailer: bytes = b"") -> bytes:
    body = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts)
    return b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + body + b"0\r\n" + trailer + b"\r\n"


def sized(body: bytes, status: str = "200 OK", extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 %s\r\nContent-Length: %d\r\n%s\r\n%s" % (status.encode(), len(body), extra, body)


async def post(pool: HttpSession, body: bytes = b"{}") -> tuple[int, bytes]:
    response = await pool.post("/chat/completions", body, {"Content-Type": "application/json"})
    try:
        return response.status, await response.read()
    finally:
        response.close()


@pytest.mark.parametrize(
    "reply",
    [
        chunked(b"hello ", b"world"),
        sized(b"hello world"),
        b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nhello world",  # ends when the server closes
    ],
    ids=["chunked", "content-length", "until-close"],
)
async def test_each_body_framing_reads_whole(reply: bytes) -> None:
    origin = Origin(lambda _: reply, close_after=b"close" in reply)
    async with serving(origin.handle) as port:
        pool = HttpSession(f"http://127.0.0.1:{port}/api/paas/v4", {"Authorization": f"Bearer {KEY}"}, 5)
        assert await post(pool) == (200, b"hello world")
        await pool.aclose()
    request = origin.requests[0]
    assert request.startswith(b"POST /api/paas/v4/chat/completions HTTP/1.1\r\n")
    assert f"Authorization: Bearer {KEY}".encode() in request and request.endswith(b"\r\n\r\n{}")


async def test_connections_are_kept_alive_and_reused() -> None:
    origin = Origin(lambda _: chunked(b"ok"))
    async with serving(origin.handle) as port:
        pool = HttpSession(f"http://127.0.0.1:{port}", {}, 5)
        for _ in range(5):
            assert await post(pool) == (200, b"ok")
        await pool.aclose()
    assert origin.connections == 1 and len(origin.requests) == 5


async def test_a_connection_the_server_closed_while_idle_is_replaced() -> None:
    origin = Origin(lambda _: sized(b"ok"))
    async with serving(origin.handle) as port:
        pool = HttpSession(f"http://127.0.0.1:{port}", {}, 5)
        assert await post(pool) == (200, b"ok")
        for writer in origin.writers:  # an idle timeout on the server's side
            writer.close()
        await asyncio.sleep(0.05)
        assert await post(pool) == (200, b"ok")
        await pool.aclose()
    assert origin.connections == 2


async def test_a_body_left_unread_closes_its_connection() -> None:
    connections = 0
    release = asyncio.Event()

    async def slow_second_chunk(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            while True:
                await reader.readuntil(b"\r\n\r\n{}")
                writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n")
                await writer.drain()
                await release.wait()
                writer.write(b"6\r\nsecond\r\n0\r\n\r\n")
                await writer.drain()

    async with serving(slow_second_chunk) as port:
        pool = HttpSession(f"http://127.0.0.1:{port}", {}, 5)
        response = await pool.post("/x", b"{}", {})
        pieces = response.pieces()
        assert await anext(pieces) == b"first"
        await pieces.aclose()  # the caller stopped early: the rest would be read as the next response
        response.close()
        release.set()
        assert await post(pool) == (200, b"firstsecond")
        await pool.aclose()
    assert connections == 2


async def test_error_statuses_are_answers_not_failures() -> None:
    origin = Origin(lambda _: sized(b'{"error":{"code":"1302"}}', "429 Too Many Requests"))
    async with serving(origin.handle) as port:
        pool = HttpSession(f"http://127.0.0.1:{port}", {}, 5)
        assert await post(pool) == (429, b'{"error":{"code":"1302"}}')
        await pool.aclose()


async def test_failures_name_the_cause_and_never_the_key() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(5)

    async def drops_mid_body(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial")
        await writer.drain()
        writer.close()

    headers = {"Authorization": f"Bearer {KEY}"}
    async with serving(silent) as port:
        pool = HttpSession(f"http://127.0.0.1:{port}", headers, 0.3)
        with pytest.raises(TransportFailure, match="timed out") as timed_out:
            await post(pool)
        await pool.aclose()
    async with serving(drops_mid_body) as port:
        pool = HttpSession(f"http://127.0.0.1:{port}", headers, 5)
        with pytest.raises(TransportFailure, match="closed mid-response") as dropped:
            await post(pool)
        await pool.aclose()
    pool = HttpSession(f"http://127.0.0.1:{port}", headers, 5)  # that server has stopped
    with pytest.raises(TransportFailure, match="cannot connect") as refused:
        await post(pool)
    await pool.aclose()
    for failure in (timed_out, dropped, refused):
        assert KEY not in str(failure.value)


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def server_tls(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    return context


async def test_https_verifies_the_server_against_the_trust_store(
    ca: trustme.CA, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    origin = Origin(lambda _: chunked(b"secure"))
    async with serving(origin.handle, server_tls(ca)) as port:
        untrusted = HttpSession(f"https://127.0.0.1:{port}", {}, 5)  # certifi does not know our CA
        with pytest.raises(TransportFailure, match="CERTIFICATE_VERIFY_FAILED"):
            await post(untrusted)
        await untrusted.aclose()
        bundle = tmp_path / "ca.pem"
        ca.cert_pem.write_to_path(str(bundle))
        monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
        trusted = HttpSession(f"https://127.0.0.1:{port}", {}, 5)
        assert await post(trusted) == (200, b"secure")
        await trusted.aclose()


class Proxy:
    """A forward proxy: CONNECT tunnels, and absolute-URL requests relayed to their origin."""

    def __init__(self) -> None:
        self.heads: list[bytes] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        self.heads.append(head)
        method, target, _ = head.split(b"\r\n")[0].split(b" ")
        if method == b"CONNECT":
            host, port = target.split(b":")
            up_reader, up_writer = await asyncio.open_connection(host.decode(), int(port))
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        else:
            host, port = target.split(b"/")[2].split(b":")
            up_reader, up_writer = await asyncio.open_connection(host.decode(), int(port))
            up_writer.write(head)

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        try:
            await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        finally:
            up_writer.close()


async def test_env_proxies_tunnel_https_and_relay_http(
    ca: trustme.CA, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    proxy = Proxy()
    secure, plain = Origin(lambda _: chunked(b"via tunnel")), Origin(lambda _: sized(b"via relay"))
    async with (
        serving(proxy.handle) as proxy_port,
        serving(secure.handle, server_tls(ca)) as secure_port,
        serving(plain.handle) as plain_port,
    ):
        monkeypatch.setenv("HTTPS_PROXY", f"http://user:p%40ss@127.0.0.1:{proxy_port}")
        monkeypatch.setenv("HTTP_PROXY", f"http://user:p%40ss@127.0.0.1:{proxy_port}")
        tunnelled = HttpSession(f"https://127.0.0.1:{secure_port}/v4", {}, 5)
        assert await post(tunnelled) == (200, b"via tunnel")
        relayed = HttpSession(f"http://127.0.0.1:{plain_port}/v1", {}, 5)
        assert await post(relayed) == (200, b"via relay")
        await tunnelled.aclose()
        await relayed.aclose()
    credentials = b"Proxy-Authorization: Basic dXNlcjpwQHNz"  # user:p@ss
    connect, relay = proxy.heads
    assert connect.startswith(b"CONNECT 127.0.0.1:%d HTTP/1.1" % secure_port) and credentials in connect
    assert relay.startswith(b"POST http://127.0.0.1:%d/v1/chat/completions" % plain_port)
    assert credentials in relay
    assert secure.requests[0].startswith(b"POST /v4/chat/completions")  # TLS inside: origin-form
    assert b"Proxy-Authorization" not in secure.requests[0]


async def test_no_proxy_exempts_a_host(monkeypatch: pytest.MonkeyPatch) -> None:
    origin = Origin(lambda _: sized(b"direct"))
    async with serving(origin.handle) as port:
        monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # nothing listens there
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        pool = HttpSession(f"http://127.0.0.1:{port}", {}, 5)
        assert await post(pool) == (200, b"direct")
        await pool.aclose()


async def test_a_refused_tunnel_is_a_clean_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    async def refusing(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        await reader.read()  # until the client hangs up, which it must

    async with serving(refusing) as proxy_port:
        monkeypatch.setenv("HTTPS_PROXY", f"127.0.0.1:{proxy_port}")  # no scheme: http:// is meant
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        pool = HttpSession("https://api.example.invalid/v4", {"Authorization": f"Bearer {KEY}"}, 5)
        with pytest.raises(TransportFailure, match=r"refused the tunnel \(HTTP 407\)") as refused:
            await post(pool)
        await pool.aclose()
    assert KEY not in str(refused.value)


def test_a_header_with_a_line_break_is_refused_up_front() -> None:
    with pytest.raises(ValueError, match="line break"):
        HttpSession("https://api.example.invalid", {"Authorization": "Bearer k\r\nX-Evil: 1"}, 5)
    with pytest.raises(ValueError, match="not an http"):
        HttpSession("ftp://api.example.invalid", {}, 5)
