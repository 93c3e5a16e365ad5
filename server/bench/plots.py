"""The run as pictures (PNG, matplotlib): one figure per metric, the targets side by side in each.

cdf_ttft.png, cdf_tpot.png, cdf_e2el.png   latency distributions (a line per target and level)
throughput.png                             output tokens/s against the load level
ttft.png                                   median TTFT (and p90) against the load level
tool_quality.png                           the share of tool-call answers passing each check
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .runner import Run
from .scoring import CHECKS
from .stats import values

_STYLES = ("-", "--", ":", "-.")
ZERO_BAR = 1.0  # percent: the height a 0 % bar is drawn at
_CHECK_NAMES = {
    "parseable": "parseable call",
    "schema_valid": "valid for its schema",
    "right_tool": "expected tool",
    "right_args": "expected arguments",
}
_TITLES = {
    "ttft": "Time to first token",
    "tpot": "Time per output token (after the first)",
    "e2el": "End-to-end latency",
}


def _wide_scale(axes: Sequence[Any], axis: str) -> bool:
    """Switch an axis to a log scale, on every panel of a figure at once (neighbours on different scales
    mislead), when the figure's data spans more than 20x: a fast and a slow target side by side would
    otherwise leave the slow one a flat line. Says whether it did."""
    from matplotlib.ticker import FuncFormatter, NullFormatter

    data = [
        v
        for ax in axes
        for line in ax.get_lines()
        for v in (line.get_xdata() if axis == "x" else line.get_ydata())
    ]
    positive = [float(v) for v in data if float(v) > 0]
    if not (positive and max(positive) / min(positive) > 20):
        return False
    for ax in axes:
        (ax.set_xscale if axis == "x" else ax.set_yscale)("log")
        which = ax.xaxis if axis == "x" else ax.yaxis
        # Plain numbers at the decades, and no labels between them: matplotlib labels the minor ticks of
        # a short log axis too, and they overlap.
        which.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        which.set_minor_formatter(NullFormatter())
    return True


def draw(
    run: Run,
    results: Sequence[Mapping[str, Any]],
    quality: Mapping[str, Mapping[str, Any]],
    targets: Sequence[str],
    out: Path,
) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    colours = {t: f"C{i}" for i, t in enumerate(targets)}
    workloads = list(dict.fromkeys(p.workload for p in run.phases))
    written: list[Path] = []

    def save(fig: Any, name: str) -> None:
        path = out / name
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)

    for metric, title in _TITLES.items():
        fig, axes = plt.subplots(1, len(workloads), figsize=(5.2 * len(workloads), 4), squeeze=False)
        for ax, workload in zip(axes[0], workloads, strict=True):
            levels = list(dict.fromkeys(p.level.label for p in run.phases if p.workload == workload))
            for phase in (p for p in run.phases if p.workload == workload):
                xs = sorted(v * 1000 for v in values(phase.samples, metric))
                if not xs:
                    continue
                ys = [(i + 1) / len(xs) for i in range(len(xs))]
                style = _STYLES[levels.index(phase.level.label) % len(_STYLES)]
                ax.step(
                    xs,
                    ys,
                    where="post",
                    color=colours[phase.target],
                    linestyle=style,
                    label=f"{phase.target}, {phase.level.label}",
                )
            ax.set_title(f"{workload} workload")
            ax.set_ylabel("share of requests at or below")
            ax.set_ylim(0, 1.02)
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8)
        log = _wide_scale(axes[0], "x")
        for ax in axes[0]:
            ax.set_xlabel(f"{metric.upper()} (ms)" + (", log scale" if log else ""))
        fig.suptitle(f"{title}: the curve further left is faster (more requests done by each time)")
        save(fig, f"cdf_{metric}.png")

    for name, key, label, title in (
        ("throughput.png", "output_throughput", "output tokens/s", "Output throughput: higher is better"),
        (
            "ttft.png",
            "median_ttft_ms",
            "TTFT p50 (ms), bar to p90",
            "Time to first token by load: lower is better",
        ),
    ):
        fig, axes = plt.subplots(1, len(workloads), figsize=(5.2 * len(workloads), 4), squeeze=False)
        for ax, workload in zip(axes[0], workloads, strict=True):
            rows = [r for r in results if r["workload"] == workload]
            levels = list(dict.fromkeys(r["level"] for r in rows))
            for target in targets:
                mine = {r["level"]: r for r in rows if r["target"] == target}
                at = [i for i, lv in enumerate(levels) if lv in mine and mine[lv][key] is not None]
                ys = [mine[levels[i]][key] for i in at]
                if key == "median_ttft_ms":
                    high = [(mine[levels[i]]["p90_ttft_ms"] or y) - y for i, y in zip(at, ys, strict=True)]
                    ax.errorbar(
                        at,
                        ys,
                        yerr=[[0] * len(ys), high],
                        marker="o",
                        capsize=4,
                        color=colours[target],
                        label=target,
                    )
                else:
                    ax.plot(at, ys, marker="o", color=colours[target], label=target)
            ax.set_xticks(range(len(levels)), levels)
            ax.set_xlabel("load level")
            ax.set_title(f"{workload} workload")
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8)
        log = _wide_scale(axes[0], "y")
        for ax in axes[0]:
            if not log:
                ax.set_ylim(bottom=0)
            ax.set_ylabel(label + (", log scale" if log else ""))
        fig.suptitle(title)
        save(fig, name)

    if quality:
        fig, ax = plt.subplots(figsize=(7.5, 4))
        width = 0.8 / max(1, len(quality))
        for i, (target, shares) in enumerate(quality.items()):
            xs = [j + (i - (len(quality) - 1) / 2) * width for j in range(len(CHECKS))]
            heights = [100 * shares[c] for c in CHECKS]
            # A 0 % bar would be no bar at all: drawn as a sliver, outlined, so that it reads as "none".
            drawn = [max(h, ZERO_BAR) for h in heights]
            bars = ax.bar(
                xs,
                drawn,
                width,
                color=colours.get(target),
                edgecolor="black",
                linewidth=0.6,
                label=f"{target} ({shares['answers']} answers)",
            )
            ax.bar_label(bars, labels=[f"{h:.0f}%" for h in heights], fontsize=8)
        ax.set_xticks(range(len(CHECKS)), [_CHECK_NAMES[c] for c in CHECKS])
        ax.set_ylabel("share of answers (%)")
        ax.set_ylim(0, 110)
        ax.set_title("Tool-call quality on the tools workload: higher is better")
        # Below the axes: inside, it hides the labels of the bars it covers.
        ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=len(quality))
        ax.grid(axis="y", alpha=0.3)
        save(fig, "tool_quality.png")
    return written
