"""ChatClient: POST a streamed chat completion to an OpenAI-style server and yield its decoded chunks."""

from __future__ import annotations

import codecs
import json
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from typing import Any

from .http_session import HttpSession, Response, TransportFailure


class HttpFailure(Exception):
    """The server answered with an error status before streaming; `body` is its JSON (or {}),
    `retry_after` its Retry-After header in seconds (None when absent or a date)."""

    def __init__(self, status: int, body: Mapping[str, Any], retry_after: float | None = None) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status
        self.body = body
        self.retry_after = retry_after


def _retry_after(response: Response) -> float | None:
    value = response.headers.get("Retry-After", "")
    try:
        seconds = float(value)
    except ValueError:
        return None  # absent, or an HTTP date: upstreams of ours send seconds
    return seconds if 0 <= seconds < 86400 else None


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
        self._http = HttpSession(base_url, headers, timeout)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def models(self) -> list[str]:
        """The ids the server's GET /models lists; raises HttpFailure or TransportFailure."""
        response = await self._http.get("/models")
        try:
            raw = await response.read()
        finally:
            response.close()
        if response.status != 200:
            raise HttpFailure(response.status, {})
        try:
            return [str(m["id"]) for m in json.loads(raw)["data"]]
        except (ValueError, KeyError, TypeError) as exc:
            raise HttpFailure(
                response.status, {"error": {"message": f"not an OpenAI model list: {exc}"}}
            ) from exc

    async def open(self, body: Mapping[str, Any]) -> ChunkStream:
        """Send a streamed completion request and read the answer's head. Raises HttpFailure for an error
        status and TransportFailure when the server cannot be reached; nothing has streamed by then, so
        both may be retried. The chunks raise StreamFailure if the stream breaks later."""
        payload = json.dumps(body, ensure_ascii=False).encode()
        response = await self._http.post("/chat/completions", payload, _HEADERS)
        if response.status == 200:
            return ChunkStream(response)
        raise HttpFailure(response.status, await _json_of(response), _retry_after(response))

    async def call(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """POST a JSON request to a non-streamed endpoint (embeddings, images) and return its answer.
        Raises HttpFailure for an error status, TransportFailure when the server cannot be reached."""
        payload = json.dumps(body, ensure_ascii=False).encode()
        response = await self._http.post(path, payload, {"Content-Type": "application/json"})
        answer = await _json_of(response)
        if response.status != 200:
            raise HttpFailure(response.status, answer, _retry_after(response))
        return answer


class ChunkStream:
    """The decoded chunks of one streamed completion. `aclose()` gives up the connection whether or not
    the chunks were read (an unstarted generator's cleanup would never run)."""

    def __init__(self, response: Response) -> None:
        self._response = response
        self._chunks = self._read()

    def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        return self._chunks

    async def aclose(self) -> None:
        await self._chunks.aclose()
        self._response.close()

    async def _read(self) -> AsyncGenerator[dict[str, Any], None]:
        done = False
        # Decoded as text before splitting: json.loads of a str skips the encoding sniffing it does for
        # bytes (half the parsing time of a short frame); the incremental decoder keeps a character that
        # straddles two reads whole.
        text = codecs.getincrementaldecoder("utf-8")(errors="replace")
        buffer = ""
        try:
            async for piece in self._response.pieces():
                # After [DONE] the body is still read to its end, so that the connection goes back to
                # the pool instead of being closed (a new TCP connection per request otherwise).
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
        if not done:
            raise StreamFailure("the stream ended without [DONE]")


_HEADERS = {"Content-Type": "application/json", "Accept": "text/event-stream"}


async def _json_of(response: Response) -> dict[str, Any]:
    """A whole response body as a JSON object (an error body that is not JSON becomes its message)."""
    try:
        raw = await response.read()
    except TransportFailure:
        raw = b""
    finally:
        response.close()
    try:
        parsed = json.loads(raw)
    except ValueError:
        parsed = {"error": {"message": raw.decode(errors="replace")[:500]}}
    return parsed if isinstance(parsed, dict) else {}
