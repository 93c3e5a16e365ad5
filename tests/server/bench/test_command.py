"""`glm-serve bench` as a user runs it: bad targets end with one clear line each; the stand-in it is
tested against answers the tools workload right and wrong exactly as planned, at the latency asked for."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.responses import HTMLResponse

from server.bench.client import Sample
from server.bench.scoring import judge
from server.bench.workloads import load
from server.standin.hosted import create_standin
from server.standin.latency import Latency
from server.standin.reply import Reply, planned
from tests.conftest import free_port, live_server, live_standin


def bench(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "server", "bench", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


@pytest.fixture(scope="module")
def standin() -> Iterator[str]:
    with live_standin(create_standin("right.key"), "right.key") as base:
        yield base


@pytest.fixture(scope="module")
def not_openai() -> Iterator[str]:
    app = FastAPI()

    @app.get("/v1/models")
    async def models() -> HTMLResponse:
        return HTMLResponse("<html><body>router admin</body></html>")

    with live_server(app, ready_path="/v1/models") as base:
        yield base


def test_bad_targets_end_with_one_line_each(standin: str, not_openai: str) -> None:
    refused = f"http://127.0.0.1:{free_port()}"
    done = bench(
        "--target",
        f"down={refused}",
        "--target",
        f"badkey={standin}",
        "--target",
        f"web={not_openai}",
        "--key-env",
        "badkey=WRONG_KEY",
        env={"WRONG_KEY": "wrong.key"},
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 3, done.stderr
    assert lines[0].startswith(f"glm-serve bench: target down ({refused}/v1): cannot connect")
    assert "the API key was rejected (HTTP 401)" in lines[1] and "wrong.key" not in done.stderr
    assert "without an OpenAI model list" in lines[2]
    assert "Traceback" not in done.stderr


def test_bad_arguments_end_with_one_line(standin: str) -> None:
    for args, message in [
        (["--target", "nourl"], "expected NAME=URL"),
        (["--target", "x=ftp://host"], "not an http(s) URL"),
        (["--target", f"a={standin}", "--key-env", "a=K", "--workload", "poems"], "unknown workload 'poems'"),
        (["--target", f"a={standin}", "--key-env", "a=K", "--slo", "speed=1"], "expected ttft=MS"),
        (["--target", f"a={standin}", "--key-env", "a=K", "--workload", "custom"], "needs --custom FILE"),
        (["--target", "h=zai"], "set ZAI_API_KEY or BIGMODEL_API_KEY"),
    ]:
        env = {"K": "right.key", "ZAI_API_KEY": "", "BIGMODEL_API_KEY": ""}
        done = bench(*args, env=env)
        assert done.returncode == 2 and message in done.stderr, (args, done.stderr)
        assert len(done.stderr.strip().splitlines()) == 1


def test_standin_answers_the_tools_workload_as_planned() -> None:
    """Right where planned() says right, wrong in the planned way otherwise: so a bench against the
    stand-in measures the scorer, not luck."""
    work = load("tools", [False])
    kinds = set()
    for task in work.tasks:
        request = task.body["messages"][-1]["content"]
        reply = Reply(
            {**task.body, "model": "glm-4.7", "thinking": {"type": "disabled"}}, tool_error_rate=0.5
        )
        calls = ((reply.name, reply.arguments),) if reply.name else ()
        verdict = judge(Sample("m", task.key, "tools", "c=1", False, 0.0, 1.0, tool_calls=calls), task)
        wrong = planned(request, 0.5)
        kinds.add(wrong)
        assert verdict.right_args == (wrong is None), (task.id, wrong, reply.name, reply.arguments)
        if wrong == "malformed_arguments":
            assert not verdict.parseable
        if wrong == "wrong_tool":
            assert verdict.parseable and not verdict.right_tool
    assert kinds >= {None, "wrong_tool", "wrong_value", "missing_argument", "malformed_arguments", "no_call"}


def test_standin_latency_draws() -> None:
    latency = Latency(ttft_ms=200, itl_ms=20, spread=0.3, seed=1)
    firsts = [latency.first() * 1000 for _ in range(4000)]
    gaps = [latency.gap() * 1000 for _ in range(4000)]
    assert statistics.fmean(firsts) == pytest.approx(200, rel=0.05)
    assert statistics.pstdev(firsts) == pytest.approx(60, rel=0.1)
    assert statistics.fmean(gaps) == pytest.approx(20, rel=0.05) and min(gaps) > 0
    assert Latency().first() == 0 and Latency(10, 5, spread=0).gap() == 0.005
    with pytest.raises(ValueError):
        Latency(-1)


def test_standin_answer_length_and_max_tokens(standin: str) -> None:
    import httpx

    app = create_standin("k", answer_tokens=40, latency=Latency(ttft_ms=30, itl_ms=2, seed=3))
    with live_standin(app, "k") as api:
        body = {
            "model": "glm-4.7",
            "messages": [{"role": "user", "content": "hi"}],
            "stream": True,
            "thinking": {"type": "disabled"},
            "max_tokens": 25,
        }
        with httpx.stream(
            "POST", api + "/chat/completions", json=body, headers={"Authorization": "Bearer k"}
        ) as r:
            frames = [json.loads(line[6:]) for line in r.iter_lines() if line.startswith("data: {")]
        assert frames[-1]["choices"][0]["finish_reason"] == "length"
        assert frames[-1]["usage"]["completion_tokens"] == 25 == len(frames) - 1
        assert app.state.answered[-1]["completion_tokens"] == 25
