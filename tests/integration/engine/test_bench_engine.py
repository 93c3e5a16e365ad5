"""`glm-serve bench` end to end: the real engine (tiny GLM) against mock-hosted, every workload, two
levels; its figures checked against what the two servers saw, its files against their schema."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
from prometheus_client.parser import text_string_to_metric_families

from server.app import create_app
from server.bench.report import SCHEMA
from server.settings import load_settings
from server.standin.hosted import create_standin
from server.standin.latency import Latency
from server.standin.reply import planned
from tests.conftest import live_server, live_standin, tiny_model_dir

pytestmark = pytest.mark.engine
KEY = "bench.standin.key"


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[str, str, Any]]:
    tiny_model_dir()
    # The agent workload's prompts run to ~7k tokens in the tiny tokenizer (it splits words finely).
    app = create_app(load_settings({"model": "tiny-cpu", "max_model_len": 8192}))
    standin = create_standin(KEY, latency=Latency(ttft_ms=15, itl_ms=2, seed=1), answer_tokens=24)
    with live_server(app, ready_path="/health", timeout=600) as local, live_standin(standin, KEY) as mock:
        yield local, mock, standin


def counters(base: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = httpx.get(base + "/metrics").text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def total(found: dict[tuple[str, Any], float], name: str, **labels: str) -> float:
    return sum(
        v for (n, ls), v in found.items() if n == name and all((k, w) in ls for k, w in labels.items())
    )


def test_bench_the_engine_against_mock_hosted(servers: tuple[str, str, Any], tmp_path: Path) -> None:
    local, mock, standin = servers
    before = counters(local)
    out = tmp_path / "run"
    args = ["--target", f"local={local}", "--target", f"hosted={mock}", "--key-env", "hosted=MOCK_KEY"]
    args += ["--model", "hosted=glm-4.7", "--workload", "chat,agent,tools", "--concurrency", "1,2"]
    args += ["--requests", "4", "--warmup", "1", "--rounds", "2", "--max-tokens", "16", "--thinking", "both"]
    args += ["--slo", "ttft=5000,tpot=1000", "--gpu-hour-cost", "2.5", "--out", str(out)]
    done = subprocess.run(
        [sys.executable, "-m", "server", "bench", *args],
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "MOCK_KEY": KEY},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads((out / "result.json").read_text())
    jsonschema.validate(result, json.loads(SCHEMA.read_text()))
    pictures = [
        "cdf_ttft.png",
        "cdf_tpot.png",
        "cdf_e2el.png",
        "throughput.png",
        "ttft.png",
        "tool_quality.png",
    ]
    for name in pictures:
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    report = (out / "report.md").read_text()
    assert "## Chat workload" in report and "## Tool-call quality" in report and "![throughput]" in report
    assert "tool-call quality" in done.stdout  # the terminal summary
    # The stand-in says what it is, and the report names its deliberate error rate.
    assert {t["name"]: t["standin_error_rate"] for t in result["targets"]} == {"local": None, "hosted": 0.2}
    assert "hosted is glm-serve's offline stand-in of the hosted API: it answers 20% of the tools" in report

    rows = {(r["target"], r["workload"], r["level"]): r for r in result["results"]}
    assert len(rows) == 2 * 3 * 2
    assert all(r["completed"] == 4 and r["failed"] == 0 for r in rows.values()), result["results"]

    def sent(target: str) -> tuple[int, int]:
        mine = [r for r in result["results"] if r["target"] == target]
        warm = result["warmup"][target]
        return (
            sum(r["completed"] for r in mine) + warm["requests"],
            sum(r["total_output_tokens"] for r in mine) + warm["output_tokens"],
        )

    # What mock-hosted saw: every request and every token the bench counted.
    requests, tokens = sent("hosted")
    assert len(standin.state.requests) == requests == 2 * 3 * (4 + 1)
    assert sum(u["completion_tokens"] for u in standin.state.answered) == tokens
    # What the engine saw, from glm-serve's and vLLM's own counters.
    after = counters(local)
    requests, tokens = sent("local")
    name = "glm_serve:requests_total"
    assert (
        total(after, name, endpoint="chat", outcome="ok") - total(before, name, endpoint="chat", outcome="ok")
        == requests
    )
    generated = total(after, "vllm:generation_tokens_total") - total(before, "vllm:generation_tokens_total")
    assert generated == tokens

    # Tool-call quality: the stand-in is right exactly where it planned to be (20 % planned wrong).
    answers = [s for s in result["samples"] if s["target"] == "hosted" and s["task"].startswith("tools/")]
    from server.bench.workloads import load

    text = {t.key: t.body["messages"][-1]["content"] for t in load("tools", [False, True]).tasks}
    right = sum(planned(text[s["task"]], 0.2) is None for s in answers)
    assert result["tool_quality"]["hosted"]["answers"] == len(answers) == 2 * 4
    assert result["tool_quality"]["hosted"]["right_args"] == right / len(answers)
    assert result["agreement"]["local vs hosted"]["tasks"] > 0
    local_row = rows[("local", "chat", "c=2")]
    assert local_row["cost_per_1m_output"] == pytest.approx(
        2.5 / (local_row["output_throughput"] * 3600) * 1e6
    )
    assert rows[("hosted", "chat", "c=1")]["cost_per_1m_output"] > 0  # glm-4.7's list price
    assert local_row["prefix_cache_hit_rate"] is not None  # the engine's counters were read
    assert rows[("hosted", "chat", "c=1")]["prefix_cache_hit_rate"] is None
