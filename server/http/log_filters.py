"""Log filters: no query strings in the access log, and no false alarm for a stream closed on purpose."""

from __future__ import annotations

import logging
from contextvars import ContextVar

# Set in the task of a response that gave up on a client that stopped reading (event_stream.py).
ABANDONED: ContextVar[bool] = ContextVar("abandoned", default=False)
_INCOMPLETE = "ASGI callable returned without completing response."


class QueryStrings(logging.Filter):
    """uvicorn's access line carries the full path; a query string may hold a token or a user's data."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 5 and isinstance(args[2], str) and "?" in args[2]:
            record.args = (*args[:2], args[2].split("?", 1)[0], *args[3:])
        return True


class AbandonedStreams(logging.Filter):
    """uvicorn logs an error when a response ends unfinished; after our write timeout that is the
    intent (the stream was closed and already logged as such), so the error would be a false alarm."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.msg == _INCOMPLETE and ABANDONED.get())


def install() -> None:
    """Attach the filters to uvicorn's loggers (once, however many apps are made)."""
    for name, kind in (("uvicorn.access", QueryStrings), ("uvicorn.error", AbandonedStreams)):
        logger = logging.getLogger(name)
        if not any(isinstance(f, kind) for f in logger.filters):
            logger.addFilter(kind())
