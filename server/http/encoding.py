"""ContentDecoding: request bodies sent compressed (Codex sends zstd; gzip is common), decoded on every route.

The body limit holds twice: BodyLimit (outside) on the bytes sent, and here on the bytes they decode to,
so that a small compressed body cannot expand into gigabytes (a decompression bomb). The decoder never
produces more than the limit plus one byte.
"""

from __future__ import annotations

import zlib
from typing import Protocol

import zstandard
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..core.errors import InvalidRequest, PayloadTooLarge, UnsupportedEncoding
from .limits import ErrorRender, refuse


class _Decoder(Protocol):
    def __call__(self, data: bytes, limit: int) -> bytes: ...


class Truncated(ValueError):
    """The compressed body ended before its stream did."""


def _zlib(data: bytes, limit: int, wbits: int) -> bytes:
    decoder = zlib.decompressobj(wbits=wbits)
    out = decoder.decompress(data, limit)  # max_length bounds the output, not the input
    if len(out) < limit and not decoder.eof:
        raise Truncated("the compressed stream ends early")
    return out


def _gzip(data: bytes, limit: int) -> bytes:
    return _zlib(data, limit, 32 + 15)  # a gzip (or zlib) header, detected


def _deflate(data: bytes, limit: int) -> bytes:
    try:
        return _zlib(data, limit, 15)
    except zlib.error:  # HTTP's "deflate" is zlib-wrapped, but some clients send it raw
        return _zlib(data, limit, -15)


# zstd's decoder has no output bound, and a block can expand ~40,000-fold: fed in slices this small, one
# step makes at most a few tens of MB past the limit before the check stops it.
_ZSTD_SLICE = 1024


def _zstd(data: bytes, limit: int) -> bytes:
    decoder = zstandard.ZstdDecompressor().decompressobj()
    out = bytearray()
    for at in range(0, len(data), _ZSTD_SLICE):
        out += decoder.decompress(data[at : at + _ZSTD_SLICE])
        if len(out) >= limit:
            return bytes(out[:limit])
        if decoder.eof:
            break
    if not decoder.eof:
        raise Truncated("the compressed stream ends early")
    return bytes(out)


DECODERS: dict[bytes, _Decoder] = {b"gzip": _gzip, b"x-gzip": _gzip, b"deflate": _deflate, b"zstd": _zstd}


class ContentDecoding:
    """ASGI middleware: a body with Content-Encoding gzip, deflate or zstd reaches the app decoded (its
    Content-Encoding and Content-Length headers gone); another encoding is a 415 unread."""

    def __init__(self, app: ASGIApp, max_bytes: int, render: ErrorRender) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.render = render

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        encoding = next((v for k, v in scope.get("headers", ()) if k == b"content-encoding"), None)
        if scope["type"] != "http" or encoding is None or encoding.strip().lower() in (b"", b"identity"):
            await self.app(scope, receive, send)
            return
        decoder = DECODERS.get(encoding.strip().lower())
        if decoder is None:
            name = encoding.decode("latin-1")
            exc = UnsupportedEncoding(
                f"Content-Encoding {name!r} is not supported; send gzip, deflate, zstd or no encoding"
            )
            await refuse(scope, send, exc, self.render)
            return
        headers = [(k, v) for k, v in scope["headers"] if k not in (b"content-encoding", b"content-length")]
        await self.app({**scope, "headers": headers}, self._decoded(receive, decoder, encoding), send)

    def _decoded(self, receive: Receive, decoder: _Decoder, encoding: bytes) -> Receive:
        """The body, read whole (BodyLimit bounds it) and decoded into one message."""
        done = False

        async def decoded() -> Message:
            nonlocal done
            if done:
                return await receive()  # after the body: the disconnect, when it comes
            compressed = bytearray()
            while True:
                message = await receive()
                if message["type"] != "http.request":
                    return message
                compressed += message.get("body", b"")
                if not message.get("more_body", False):
                    break
            done = True
            try:
                body = decoder(bytes(compressed), self.max_bytes + 1)
            except (zlib.error, zstandard.ZstdError, Truncated) as exc:
                raise InvalidRequest(
                    f"the request body is not valid {encoding.decode('latin-1')} data ({exc})"
                ) from exc
            if len(body) > self.max_bytes:
                raise PayloadTooLarge(
                    f"the request body decodes to more than this server's limit of {self.max_bytes / 1e6:g} "
                    "MB (--max-body-mb)"
                )
            return {"type": "http.request", "body": body, "more_body": False}

        return decoded
