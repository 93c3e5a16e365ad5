"""Server-sent events framing: the only place that writes `data:` lines."""

from __future__ import annotations


def encode(data: str, event: str | None = None) -> bytes:
    """One SSE event. `data` is JSON (one line), so it needs no line splitting."""
    if event is None:
        return b"data: " + data.encode() + b"\n\n"
    return b"event: " + event.encode() + b"\ndata: " + data.encode() + b"\n\n"


def comment(text: str) -> bytes:
    """A keep-alive comment line that clients ignore."""
    return b": " + text.encode() + b"\n\n"


DONE = b"data: [DONE]\n\n"
