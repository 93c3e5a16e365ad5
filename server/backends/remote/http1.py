"""Http1Pool: a small HTTP/1.1 client for one origin, with keep-alive, streamed bodies, TLS and env proxies.

Why not httpx: a streamed completion through httpx cost glm-serve 2 to 3.5 ms of CPU per request on the
benchmark machine (its client, httpcore's pool, h11 and anyio each add a layer per chunk), more than the
whole latency budget of the hosted backend; this client does the same job in a few hundred µs. It does
only what the chat upstreams need: POST, a JSON body, and a response read as it arrives.
"""

from __future__ import annotations

import asyncio
import base64
import os
import ssl
import urllib.request
from collections.abc import AsyncIterator, Mapping
from urllib.parse import unquote, urlsplit

READ_SIZE = 65536


class TransportFailure(Exception):
    """The origin could not be reached, or the connection broke or spoke broken HTTP."""


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    def usable(self) -> bool:
        return not self.writer.is_closing() and not self.reader.at_eof()

    def close(self) -> None:
        self.writer.close()


class Response:
    """A response whose body is still on the wire. Read it with `pieces()` or `read()`; `close()` always."""

    def __init__(
        self, pool: Http1Pool, conn: _Connection, status: int, headers: dict[str, str], timeout: float
    ) -> None:
        self.status = status
        self.headers = headers  # lower-case names
        self._pool = pool
        self._conn: _Connection | None = conn
        self._timeout = timeout
        self._reusable = "close" not in headers.get("connection", "").lower()

    async def pieces(self) -> AsyncIterator[bytes]:
        """The body as it arrives (de-chunked). At its end the connection goes back to the pool."""
        conn = self._conn
        if conn is None:
            raise TransportFailure("the response body was already read or closed")
        reader = conn.reader
        finished = False
        try:
            if "chunked" in self.headers.get("transfer-encoding", "").lower():
                raw = bytearray()
                while True:
                    data, ended = _take_chunks(raw)
                    if data:
                        yield data
                    if ended:
                        self._reusable = self._reusable and not raw
                        break
                    raw += await self._more(reader, READ_SIZE)
            elif "content-length" in self.headers:
                left = int(self.headers["content-length"])
                while left:
                    piece = await self._more(reader, min(left, READ_SIZE))
                    left -= len(piece)
                    yield piece
            else:  # the body ends when the server closes the connection
                self._reusable = False
                while piece := await self._read(reader, READ_SIZE):
                    yield piece
            finished = True
        except (
            OSError,
            ValueError,
            TimeoutError,
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
        ) as exc:
            raise TransportFailure(_reason(exc)) from exc
        finally:
            if not finished:  # an error, or the reader stopped early (a cancelled request)
                self.close()
        self._conn = None
        if self._reusable:
            self._pool.release(conn)
        else:
            conn.close()

    async def _read(self, reader: asyncio.StreamReader, size: int) -> bytes:
        # One timeout per socket read, not per chunk: a read usually brings many chunks.
        async with asyncio.timeout(self._timeout):
            return await reader.read(size)

    async def _more(self, reader: asyncio.StreamReader, size: int) -> bytes:
        piece = await self._read(reader, size)
        if not piece:
            raise asyncio.IncompleteReadError(b"", size)
        return piece

    async def read(self) -> bytes:
        return b"".join([piece async for piece in self.pieces()])

    def close(self) -> None:
        """Drop the connection unless its body was read to the end (the unread rest would poison it)."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class Http1Pool:
    """Keep-alive connections to the origin of `base_url`; requests go to paths under its path."""

    def __init__(
        self,
        base_url: str,
        headers: Mapping[str, str],
        timeout: float,
        connect_timeout: float = 10.0,
        max_idle: int = 64,
    ) -> None:
        url = urlsplit(base_url.rstrip("/"))
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError(f"not an http(s) URL: {base_url!r}")
        self._host = url.hostname
        self._port = url.port or (443 if url.scheme == "https" else 80)
        self._tls = _tls_context() if url.scheme == "https" else None
        authority = url.netloc.rpartition("@")[2]  # host[:port], an IPv6 host still in brackets
        self._origin = f"{url.scheme}://{authority}"
        self._tunnel_target = authority if url.port else f"{authority}:{self._port}"  # CONNECT's host:port
        self._base_path = url.path
        self._proxy = _proxy_for(url.scheme, self._host)
        self._proxy_auth = _proxy_auth(self._proxy)
        self._timeout = timeout
        self._connect_timeout = connect_timeout
        self._max_idle = max_idle
        self._idle: list[_Connection] = []
        self._fixed = {"Host": authority, "User-Agent": "glm-serve", "Accept-Encoding": "identity"}
        if self._proxy is not None and self._tls is None:
            self._fixed.update(self._proxy_auth)  # a plain-HTTP proxy reads it on every request
        self._fixed.update(headers)
        if any("\r" in v or "\n" in v for v in self._fixed.values()):
            raise ValueError("an HTTP header value (an API key?) contains a line break")

    async def post(self, path: str, body: bytes, headers: Mapping[str, str]) -> Response:
        """Send a POST and read the response head. A reused connection that the server had already
        closed (it times idle ones out) fails before any answer, so that one case is tried again fresh."""
        while self._idle:
            conn = self._idle.pop()
            if not conn.usable():
                conn.close()
                continue
            try:
                return await self._exchange(conn, path, body, headers, reused=True)
            except _StaleConnection:
                continue
        try:
            async with asyncio.timeout(self._connect_timeout):
                conn = await self._connect()
        except (OSError, TimeoutError, ssl.SSLError, asyncio.IncompleteReadError, ValueError) as exc:
            raise TransportFailure(f"cannot connect to {self._origin}: {_reason(exc)}") from exc
        return await self._exchange(conn, path, body, headers, reused=False)

    def release(self, conn: _Connection) -> None:
        if len(self._idle) < self._max_idle and conn.usable():
            self._idle.append(conn)
        else:
            conn.close()

    async def aclose(self) -> None:
        idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    async def _exchange(
        self, conn: _Connection, path: str, body: bytes, headers: Mapping[str, str], *, reused: bool
    ) -> Response:
        target = self._base_path + path
        if self._proxy is not None and self._tls is None:
            target = self._origin + target  # a plain-HTTP proxy takes the absolute URL
        lines = [f"POST {target} HTTP/1.1"]
        lines += [f"{k}: {v}" for k, v in {**self._fixed, **headers}.items()]
        lines.append(f"Content-Length: {len(body)}")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        try:
            conn.writer.write(head + body)
            async with asyncio.timeout(self._timeout):
                await conn.writer.drain()
                status, fields = await _read_head(conn.reader)
        except (ConnectionError, asyncio.IncompleteReadError) as exc:
            conn.close()
            if reused:
                raise _StaleConnection from exc
            raise TransportFailure(_reason(exc)) from exc
        except (OSError, TimeoutError, ValueError, asyncio.LimitOverrunError) as exc:
            conn.close()
            raise TransportFailure(_reason(exc)) from exc
        return Response(self, conn, status, fields, self._timeout)

    async def _connect(self) -> _Connection:
        if self._proxy is None:
            reader, writer = await asyncio.open_connection(
                self._host, self._port, ssl=self._tls, server_hostname=self._host if self._tls else None
            )
            return _Connection(reader, writer)
        proxy = urlsplit(self._proxy)
        reader, writer = await asyncio.open_connection(proxy.hostname, proxy.port or 80)
        if self._tls is None:
            return _Connection(reader, writer)
        try:  # HTTPS through the proxy: a CONNECT tunnel, then TLS inside it
            where = self._tunnel_target
            auth = [f"{k}: {v}" for k, v in self._proxy_auth.items()]
            lines = [f"CONNECT {where} HTTP/1.1", f"Host: {where}", *auth]
            writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
            status, _ = await _read_head(reader)
            if status != 200:
                raise ValueError(f"the proxy refused the tunnel (HTTP {status})")
            await writer.start_tls(self._tls, server_hostname=self._host)
        except BaseException:  # failed or timed out half way: the socket must not linger
            writer.close()
            raise
        return _Connection(reader, writer)


class _StaleConnection(Exception):
    pass


async def _read_head(reader: asyncio.StreamReader) -> tuple[int, dict[str, str]]:
    """Status and header fields of the next response, skipping interim 1xx ones."""
    while True:
        raw = await reader.readuntil(b"\r\n\r\n")
        status_line, *field_lines = raw.decode("latin-1").split("\r\n")
        version, _, rest = status_line.partition(" ")
        if not version.startswith("HTTP/1."):
            raise ValueError(f"not an HTTP/1.x response: {status_line[:80]!r}")
        status = int(rest[:3])
        if status >= 200:
            break
    fields: dict[str, str] = {}
    for line in field_lines:
        name, sep, value = line.partition(":")
        if sep:
            fields[name.strip().lower()] = value.strip()
    return status, fields


def _take_chunks(raw: bytearray) -> tuple[bytes, bool]:
    """Decode the complete chunks at the start of a chunked body's `raw` bytes and remove them from it.
    Returns their data, and whether the last chunk (size 0, then any trailer fields) was among them."""
    data: list[bytes] = []
    pos = 0
    while (eol := raw.find(b"\r\n", pos)) >= 0:
        size = int(raw[pos:eol].split(b";", 1)[0], 16)
        if size == 0:
            end = raw.find(b"\r\n\r\n", eol)  # the empty line after the trailer fields (usually none)
            if end < 0:
                break
            del raw[: end + 4]
            return b"".join(data), True
        start, stop = eol + 2, eol + 2 + size
        if len(raw) < stop + 2:
            break
        if raw[stop : stop + 2] != b"\r\n":
            raise ValueError("malformed chunked body")
        data.append(bytes(raw[start:stop]))
        pos = stop + 2
    if raw.find(b"\r\n", pos) < 0 and len(raw) - pos > 1024:
        raise ValueError("malformed chunked body: a chunk-size line without its end")
    del raw[:pos]
    return b"".join(data), False


def _tls_context() -> ssl.SSLContext:
    """The system's trust store where SSL_CERT_FILE/SSL_CERT_DIR say so, else certifi's (as httpx does)."""
    if os.environ.get("SSL_CERT_FILE") or os.environ.get("SSL_CERT_DIR"):
        return ssl.create_default_context()
    try:
        import certifi
    except ImportError:
        return ssl.create_default_context()
    return ssl.create_default_context(cafile=certifi.where())


def _proxy_for(scheme: str, host: str) -> str | None:
    """The proxy from HTTP(S)_PROXY / ALL_PROXY unless NO_PROXY exempts the host (as curl and httpx do)."""
    proxies = urllib.request.getproxies_environment()
    proxy = proxies.get(scheme) or proxies.get("all")
    if not proxy or urllib.request.proxy_bypass(host):
        return None
    if "://" not in proxy:
        proxy = "http://" + proxy
    if urlsplit(proxy).scheme != "http":
        raise ValueError(f"only http:// proxies are supported, not {proxy.split('://')[0]}://")
    return proxy


def _proxy_auth(proxy: str | None) -> dict[str, str]:
    url = urlsplit(proxy or "")
    if not url.username:
        return {}
    pair = f"{unquote(url.username)}:{unquote(url.password or '')}".encode()
    return {"Proxy-Authorization": "Basic " + base64.b64encode(pair).decode()}


def _reason(exc: BaseException) -> str:
    """A short, key-free description of a transport failure."""
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, asyncio.IncompleteReadError):
        return "the connection closed mid-response"
    return f"{type(exc).__name__}: {exc}"[:200]
