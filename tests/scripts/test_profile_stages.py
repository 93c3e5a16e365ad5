"""The benchmarks' py-spy reading (scripts/load.py): each sample to the stage of its innermost known frame."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
from load import Spy, hottest, stages

LOOP = "Runner.run (asyncio/runners.py:118)"
RAW = f"""\
{LOOP};Gate._guarded (server/http/gate.py:110);GlmParser.feed (parsers/glm.py:80) 30
{LOOP};_chat_chunks (server/openai/render.py:105);Gate._guarded (server/http/gate.py:110) 20
{LOOP};_chat_chunks (server/openai/render.py:105) 10
Server.run (uvicorn/server.py:86);{LOOP} 500
Server.run (uvicorn/server.py:86);RequestResponseCycle.send (uvicorn/protocols/http/httptools_impl.py:542) 40
"""


def test_a_sample_counts_for_its_innermost_stage_and_idle_loop_samples_are_left_out(tmp_path: Path) -> None:
    raw = tmp_path / "server.spy"
    raw.write_text(RAW)
    per_request = dict(stages(raw, count=10))
    us = 1e6 / Spy.RATE / 10  # one sample, per request
    # The parser called from the gate is the parser; the gate's own step, the gate; the renderer's, render.
    assert per_request["parser"] == pytest.approx(30 * us)
    assert per_request["gate + metrics"] == pytest.approx(20 * us)
    assert per_request["render: events to the wire's SSE"] == pytest.approx(10 * us)
    assert per_request["HTTP server (uvicorn + httptools)"] == pytest.approx(40 * us)
    # The event loop waiting in epoll (its run method on top) is not the server's work.
    assert sum(per_request.values()) == pytest.approx(100 * us)
    top = hottest(raw, count=10, n=1)
    assert top == [("RequestResponseCycle.send (uvicorn/protocols/http/httptools_impl.py:542)", 40 * us)]
