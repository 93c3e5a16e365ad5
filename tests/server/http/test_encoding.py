"""Compressed request bodies (Codex sends zstd) on every route, over real HTTP, with the limit decoded."""

from __future__ import annotations

import gzip
import json
import zlib
from typing import Any

import httpx
import pytest
import zstandard

from tests.fake_server import fake_server

ROUTES: dict[str, dict[str, Any]] = {
    "/v1/chat/completions": {"model": "glm-test", "messages": [{"role": "user", "content": "héllo"}]},
    "/v1/messages": {
        "model": "glm-test",
        "max_tokens": 64,
        "messages": [{"role": "user", "content": "héllo"}],
    },
    "/v1/responses": {"model": "glm-test", "input": "héllo"},
    "/v1/messages/count_tokens": {"model": "glm-test", "messages": [{"role": "user", "content": "héllo"}]},
}
ENCODINGS = {
    "zstd": zstandard.ZstdCompressor().compress,
    "gzip": gzip.compress,
    "deflate": zlib.compress,
}


@pytest.mark.parametrize("encoding", sorted(ENCODINGS))
def test_every_route_takes_a_compressed_body(encoding: str) -> None:
    with fake_server("x</think>ok") as (base, backend):
        for path, body in ROUTES.items():
            raw = ENCODINGS[encoding](json.dumps(body).encode())
            r = httpx.post(
                base + path,
                content=raw,
                headers={"content-encoding": encoding, "content-type": "application/json"},
            )
            assert r.status_code == 200, (path, r.text)
            if path != "/v1/messages/count_tokens":
                assert backend.requests[-1].messages[-1].content == "héllo"


def test_the_limit_applies_to_the_decoded_body_in_each_wires_shape() -> None:
    """A 2 MB prompt compresses to a few KB: under the limit as sent, over it decoded (a 413, not a
    server that inflates whatever it is given)."""
    with fake_server(max_body_mb=1) as (base, backend):
        big = {"model": "glm-test", "messages": [{"role": "user", "content": "a" * 2_000_000}]}
        raw = zstandard.ZstdCompressor().compress(json.dumps(big).encode())
        assert len(raw) < 10_000
        headers = {"content-encoding": "zstd", "content-type": "application/json"}
        r = httpx.post(base + "/v1/chat/completions", content=raw, headers=headers)
        assert r.status_code == 413 and r.json()["error"]["code"] == "request_too_large"
        assert "decodes to more than" in r.json()["error"]["message"]
        r = httpx.post(base + "/v1/messages", content=raw, headers=headers)
        assert r.status_code == 413 and r.json()["type"] == "error"  # Anthropic's shape
        assert not backend.requests


@pytest.mark.parametrize(
    ("encoding", "raw", "status", "says"),
    [
        ("zstd", b"not zstd at all", 400, "not valid zstd"),
        ("gzip", gzip.compress(b'{"model": "glm-test"}')[:12], 400, "not valid gzip"),
        ("br", b"\x1b\x00", 415, "'br' is not supported"),
    ],
)
def test_bad_encodings_are_clear_errors(encoding: str, raw: bytes, status: int, says: str) -> None:
    with fake_server() as (base, _):
        headers = {"content-encoding": encoding, "content-type": "application/json"}
        r = httpx.post(base + "/v1/chat/completions", content=raw, headers=headers)
        assert r.status_code == status, r.text
        assert says in r.json()["error"]["message"]


def test_identity_and_plain_bodies_pass_untouched() -> None:
    with fake_server("x</think>ok") as (base, _):
        body = ROUTES["/v1/chat/completions"]
        assert httpx.post(base + "/v1/chat/completions", json=body).status_code == 200
        r = httpx.post(base + "/v1/chat/completions", json=body, headers={"content-encoding": "identity"})
        assert r.status_code == 200
