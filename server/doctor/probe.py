"""Probe: one request to the server under test, kept whole (request and answer) for the report.

The doctor is a client like any other: it speaks HTTP to a URL with the standard library only, so that it
runs wherever glm-serve is installed and checks what a client would see, not the server's insides.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Exchange:
    """A request and what came back: a JSON body, or the SSE events of a stream."""

    path: str
    body: dict[str, Any]
    status: int
    answer: Any  # the JSON body, or the list of the stream's data payloads (JSON where they parse)
    seconds: float
    headers: dict[str, str] = field(default_factory=dict)


class Probe:
    """Sends requests to `base` (http://host:port) with an optional key."""

    def __init__(self, base: str, api_key: str | None = None, timeout: float = 300.0) -> None:
        self.base = base.rstrip("/")
        self._key = api_key
        self._timeout = timeout

    def get(self, path: str) -> Exchange:
        return self._send(path, None)

    def post(self, path: str, body: dict[str, Any]) -> Exchange:
        return self._send(path, body)

    def _send(self, path: str, body: dict[str, Any] | None) -> Exchange:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base + path, data=data, method="POST" if data else "GET")
        request.add_header("content-type", "application/json")
        if self._key:
            request.add_header("authorization", f"Bearer {self._key}")
            request.add_header("x-api-key", self._key)
        start = time.monotonic()
        try:
            with urllib.request.urlopen(request, timeout=self._timeout) as response:
                status, headers, raw = response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as error:
            status, headers, raw = error.code, dict(error.headers), error.read()
        except (urllib.error.URLError, OSError) as error:
            return Exchange(path, body or {}, 0, {"transport error": str(error)}, time.monotonic() - start)
        seconds = time.monotonic() - start
        text = raw.decode("utf-8", "replace")
        if headers.get("content-type", "").startswith("text/event-stream"):
            return Exchange(path, body or {}, status, _events(text), seconds, headers)
        try:
            answer: Any = json.loads(text)
        except ValueError:
            answer = text
        return Exchange(path, body or {}, status, answer, seconds, headers)


def _events(text: str) -> list[Any]:
    """The data payloads of an event stream, JSON where they parse (`[DONE]` stays a string)."""
    out: list[Any] = []
    for line in text.splitlines():
        if line.startswith("data:"):
            payload = line[5:].strip()
            try:
                out.append(json.loads(payload))
            except ValueError:
                out.append(payload)
    return out
