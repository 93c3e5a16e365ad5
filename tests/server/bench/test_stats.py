"""The figures of a phase: percentiles as numpy computes them, goodput, throughput, SLO parsing."""

from __future__ import annotations

import math

import numpy
import pytest

from server.bench.client import Sample
from server.bench.runner import Level, Phase
from server.bench.stats import parse_slo, percentile, summarize


def test_percentile_matches_numpy() -> None:
    data = [0.3, 12.0, 5.5, 7.25, 1.0, 99.0, 42.0]
    for q in (0, 10, 50, 90, 99, 100):
        assert percentile(data, q) == pytest.approx(float(numpy.percentile(data, q)))
    assert math.isnan(percentile([], 50))


def sample(ttft: float, e2el: float, tokens: int, error: str | None = None) -> Sample:
    return Sample(
        "t",
        "w/x/nothink",
        "chat",
        "c=2",
        False,
        0.0,
        e2el,
        ttft=ttft,
        output_tokens=tokens,
        prompt_tokens=10,
        reasoning_tokens=tokens // 2,
        itl=(0.01, 0.03),
        error=error,
    )


def test_summary_of_a_phase() -> None:
    phase = Phase("t", "chat", Level("concurrency", 2), seconds=2.0)
    phase.samples = [sample(0.1, 1.1, 101), sample(0.5, 2.5, 201), sample(0.2, 0.3, 0, error="http_429")]
    row = summarize(phase, {"ttft": 200, "tpot": 15})
    assert (row["completed"], row["failed"], row["errors"]) == (2, 1, {"http_429": 1})
    assert row["total_output_tokens"] == 302 and row["output_throughput"] == 151.0
    assert row["request_throughput"] == 1.0
    assert row["median_ttft_ms"] == pytest.approx(300.0)
    assert row["mean_tpot_ms"] == pytest.approx((10 + 10) / 2)  # (1.1-0.1)/100 and (2.5-0.5)/200 s
    assert row["median_itl_ms"] == pytest.approx(20.0)
    assert row["request_goodput"] == 0.5  # only the first meets ttft ≤ 200 ms and tpot ≤ 15 ms
    assert row["reasoning_token_share"] == pytest.approx(150 / 302)
    assert row["max_concurrency"] == 2 and row["request_rate"] == "inf"


def test_slo_parsing() -> None:
    assert parse_slo("ttft=500, tpot=50") == {"ttft": 500.0, "tpot": 50.0}
    assert parse_slo(None) == {}
    with pytest.raises(ValueError, match="expected ttft=MS"):
        parse_slo("latency=5")
