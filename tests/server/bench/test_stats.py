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


def test_goodput_does_not_hold_a_tpot_limit_against_a_one_token_answer() -> None:
    """As `vllm bench serve` counts it: a one-token answer has no TPOT, so a TPOT limit cannot miss it."""
    phase = Phase("t", "chat", Level("concurrency", 1), seconds=1.0)
    phase.samples = [sample(0.1, 0.1, 1), sample(0.1, 2.1, 11)]  # the second: 200 ms a token
    assert summarize(phase, {"tpot": 50})["request_goodput"] == 1.0
    assert summarize(phase, {"tpot": 50, "ttft": 50})["request_goodput"] == 0.0  # TTFT it does have


def test_a_figure_s_panels_share_one_scale() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from server.bench.plots import _wide_scale

    fig, axes = plt.subplots(1, 2)
    axes[0].plot([1, 2, 3], [10, 12, 14])  # narrow on its own
    axes[1].plot([1, 2, 3], [10, 500, 2000])
    assert _wide_scale(axes, "y")
    assert [ax.get_yscale() for ax in axes] == ["log", "log"]
    # Only the decades are labelled: minor labels on a short log axis overlap.
    assert axes[0].yaxis.get_minor_formatter().__class__.__name__ == "NullFormatter"
    fig2, narrow = plt.subplots(1, 2)
    narrow[0].plot([1, 2], [10, 12])
    narrow[1].plot([1, 2], [11, 150])
    assert not _wide_scale(narrow, "y") and [ax.get_yscale() for ax in narrow] == ["linear", "linear"]
    plt.close(fig)
    plt.close(fig2)
