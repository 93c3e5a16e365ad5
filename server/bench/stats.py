"""Figures of one phase (a target at a level of a workload), named as `vllm bench serve` names them.

TTFT is the time to the first output (text, reasoning or a tool call); ITL the gaps between outputs as they
arrived; TPOT a request's time after its first token per further token; E2EL the whole request. TTFC, the
time to the first chunk of any kind, is what `vllm bench serve` calls TTFT: against a server that sends
a role-only chunk before the first token (glm-serve does, as soon as the request is admitted) it is the
time to that chunk. Goodput counts the requests that met every --slo given, per second.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from .client import Sample
from .runner import Phase

PERCENTILES = (50, 90, 99)
METRICS = ("ttft", "tpot", "itl", "e2el", "ttfc")


def percentile(values: Sequence[float], q: float) -> float:
    """Linear interpolation between the closest ranks (numpy's default)."""
    xs = sorted(values)
    if not xs:
        return math.nan
    rank = (len(xs) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(xs) - 1)
    return xs[low] + (xs[high] - xs[low]) * (rank - low)


def values(samples: Sequence[Sample], metric: str) -> list[float]:
    """A metric's values in seconds over the successful samples (ITL pools every gap)."""
    ok = [s for s in samples if s.ok]
    if metric == "itl":
        return [gap for s in ok for gap in s.itl]
    found = [getattr(s, metric) for s in ok]
    return [v for v in found if v is not None]


def good(sample: Sample, slo: Mapping[str, float]) -> bool:
    """Whether a request met every limit, as `vllm bench serve` counts goodput: a limit on a metric the
    request does not have (TPOT of a one-token answer) is not held against it."""
    if not sample.ok:
        return False
    for metric, limit_ms in slo.items():
        value = getattr(sample, metric)
        if value is None:
            if metric == "tpot":
                continue
            return False
        if value * 1000 > limit_ms:
            return False
    return True


def summarize(phase: Phase, slo: Mapping[str, float]) -> dict[str, Any]:
    samples = phase.samples
    ok = [s for s in samples if s.ok]
    seconds = phase.seconds or math.nan
    out = sum(s.output_tokens for s in ok)
    prompt = sum(s.prompt_tokens for s in ok)
    figures: dict[str, Any] = {
        "target": phase.target,
        "workload": phase.workload,
        "level": phase.level.label,
        "max_concurrency": int(phase.level.value) if phase.level.kind == "concurrency" else None,
        "request_rate": phase.level.value if phase.level.kind == "rate" else "inf",
        "duration": phase.seconds,
        "completed": len(ok),
        "failed": len(samples) - len(ok),
        "errors": dict(Counter(s.error for s in samples if s.error)),
        "total_input_tokens": prompt,
        "total_output_tokens": out,
        "request_throughput": len(ok) / seconds,
        "request_goodput": sum(good(s, slo) for s in samples) / seconds if slo else None,
        "output_throughput": out / seconds,
        "total_token_throughput": (out + prompt) / seconds,
        "reasoning_token_share": sum(s.reasoning_tokens for s in ok) / out if out else None,
        "cached_prompt_share": sum(s.cached_tokens for s in ok) / prompt if prompt else None,
        "prefix_cache_hit_rate": (phase.cache_hits or 0) / phase.cache_queries
        if phase.cache_queries
        else None,
        "chunks": sum(s.chunks for s in samples),
    }
    for metric in METRICS:
        xs = [v * 1000 for v in values(samples, metric)]
        figures[f"mean_{metric}_ms"] = statistics.fmean(xs) if xs else None
        figures[f"median_{metric}_ms"] = percentile(xs, 50) if xs else None
        figures[f"std_{metric}_ms"] = statistics.pstdev(xs) if xs else None
        for q in PERCENTILES:
            figures[f"p{q}_{metric}_ms"] = percentile(xs, q) if xs else None
    return figures


def parse_slo(text: str | None) -> dict[str, float]:
    """`ttft=500,tpot=50` (milliseconds) as {"ttft": 500.0, "tpot": 50.0}."""
    slo: dict[str, float] = {}
    for part in (text or "").split(","):
        if not part.strip():
            continue
        name, sep, value = part.partition("=")
        name = name.strip().lower()
        if not sep or name not in ("ttft", "tpot", "e2el"):
            raise ValueError(f"--slo {part!r}: expected ttft=MS, tpot=MS or e2el=MS")
        slo[name] = float(value)
    return slo
