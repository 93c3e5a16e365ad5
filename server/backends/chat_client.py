"""ChatClient: POST a streamed chat completion to an OpenAI-style server and yield its decoded chunks."""

from __future__ import annotations

import codecs
import json
from collections.abc import AsyncIterator, Mapping
from typing import Any

from .http1 import Http1Pool, TransportFailure


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
    """One keep-alive connection pool per upstream. The API key travels only in the Authorization header."""

    def __init__(self, base_url: str, api_key: str | None, timeout: float) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = Http1Pool(base_url, headers, timeout)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def stream(self, body: Mapping[str, Any]) -> AsyncIterator[dict[str, Any]]:
        """The chunks of one streamed completion. Raises HttpFailure before the first chunk,
        StreamFailure after it, and TransportFailure when the server cannot be reached."""
        payload = json.dumps(body, ensure_ascii=False).encode()
        response = await self._http.post("/chat/completions", payload, _HEADERS)
        try:
            if response.status != 200:
                raw = await response.read()
                try:
                    parsed = json.loads(raw)
                except ValueError:
                    parsed = {"error": {"message": raw.decode(errors="replace")[:500]}}
                raise HttpFailure(response.status, parsed if isinstance(parsed, dict) else {})
            done = False
            # Decoded as text before splitting: json.loads of a str skips the encoding sniffing it does
            # for bytes (half the parsing time of a short frame); the incremental decoder keeps a
            # character that straddles two reads whole.
            text = codecs.getincrementaldecoder("utf-8")(errors="replace")
            buffer = ""
            try:
                async for piece in response.pieces():
                    # After [DONE] the body is still read to its end, so that the connection goes back
                    # to the pool instead of being closed (a new TCP connection per request otherwise).
                    *lines, buffer = (buffer + text.decode(piece)).split("\n")
                    for line in lines:
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
            except TransportFailure as exc:
                raise StreamFailure(f"connection lost mid-stream ({exc})") from exc
        finally:
            response.close()
        if not done:
            raise StreamFailure("the stream ended without [DONE]")


_HEADERS = {"Content-Type": "application/json", "Accept": "text/event-stream"}
