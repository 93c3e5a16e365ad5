"""ChatClient: POST a streamed chat completion to an OpenAI-style server and yield its decoded chunks."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from typing import Any

import httpx


class HttpFailure(Exception):
    """The server answered with an error status before streaming; `body` is its JSON (or {})."""

    def __init__(self, status: int, body: Mapping[str, Any]) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status
        self.body = body


class StreamFailure(Exception):
    """The stream broke after it started: a dropped connection, or an error frame inside the stream."""

    def __init__(self, reason: str, body: Mapping[str, Any] | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.body = body


class ChatClient:
    """One pooled httpx client per upstream. The API key travels only in the Authorization header."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None,
        timeout: float,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            headers=headers,
            transport=transport,
            timeout=httpx.Timeout(timeout, connect=10.0),
            limits=httpx.Limits(max_connections=256, max_keepalive_connections=64),
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def stream(self, body: Mapping[str, Any]) -> AsyncIterator[dict[str, Any]]:
        """The chunks of one streamed completion. Raises HttpFailure before the first chunk,
        StreamFailure after it, and httpx.TransportError when the server cannot be reached."""
        async with self._http.stream(
            "POST", "/chat/completions", json=body, headers={"Accept": "text/event-stream"}
        ) as response:
            if response.status_code != 200:
                raw = await response.aread()
                try:
                    parsed = json.loads(raw)
                except ValueError:
                    parsed = {"error": {"message": raw.decode(errors="replace")[:500]}}
                raise HttpFailure(response.status_code, parsed if isinstance(parsed, dict) else {})
            done = False
            try:
                async for line in response.aiter_lines():
                    # After [DONE] the body is read to its end, so that the connection goes back to
                    # the pool instead of being closed (a new TCP connection per request otherwise).
                    if done or not line.startswith("data:"):
                        continue
                    data = line[5:].strip()
                    if data == "[DONE]":
                        done = True
                        continue
                    try:
                        chunk = json.loads(data)
                    except ValueError as exc:  # GLM-5.1 was seen merging frames (zai-org/GLM-5#66)
                        raise StreamFailure(f"malformed stream frame: {data[:120]}") from exc
                    if "error" in chunk:
                        raise StreamFailure("error inside the stream", chunk)
                    yield chunk
            except httpx.TransportError as exc:
                raise StreamFailure(f"connection lost mid-stream ({type(exc).__name__})") from exc
        if not done:
            raise StreamFailure("the stream ended without [DONE]")
