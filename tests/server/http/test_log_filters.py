"""The access log keeps no query strings; library source paths stay out of a client's error."""

from __future__ import annotations

import logging

import httpx

from server.backends.local.engine import _SOURCE_PATHS
from tests.fake_server import fake_server


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def test_query_strings_never_reach_the_access_log() -> None:
    access = logging.getLogger("uvicorn.access")  # uvicorn's: it does not propagate to the root
    handler = Lines()
    with fake_server() as (base, _):
        # live_server runs uvicorn at level warning: the access logger is raised for this test.
        level = access.level
        access.setLevel(logging.INFO)
        access.addHandler(handler)
        try:
            assert httpx.get(base + "/v1/models?key=s3cret&user=alice").status_code == 200
        finally:
            access.removeHandler(handler)
            access.setLevel(level)
    lines = handler.lines
    assert any("GET /v1/models HTTP/1.1" in line for line in lines), lines
    assert not any("s3cret" in line or "alice" in line for line in lines)


def test_xgrammar_source_locations_are_cut_from_messages() -> None:
    raw = (
        "[10:02:03] /project/cpp/json_schema_converter.cc:120: Unsupported type objekt; "
        "see /usr/src/xgrammar/grammar.h:7 too"
    )
    assert _SOURCE_PATHS.sub("", raw) == "Unsupported type objekt; see too"
