"""The run's record: result.json (field names as `vllm bench serve` writes them where they overlap), a
Markdown report, and the summary table printed at the end."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

SCHEMA = Path(__file__).resolve().parent / "result.schema.json"
TABLE_WIDTH = 160  # the summary's columns; narrower terminals wrap rather than cut the figures


NONE = "-"  # nothing measured (no successful request, or the target does not report it)


def _num(value: Any, digits: int = 1) -> str:
    missing = value is None or (isinstance(value, float) and math.isnan(value))
    return NONE if missing else f"{value:,.{digits}f}"


def _ms(value: Any) -> str:
    return _num(value, 0)


def _share(value: Any) -> str:
    return NONE if value is None else f"{100 * value:.0f}%"


COLUMNS: Sequence[tuple[str, str, Any]] = (
    ("target", "target", str),
    ("level", "load", str),
    ("completed", "ok", str),
    ("failed", "failed", str),
    ("median_ttft_ms", "TTFT p50", _ms),
    ("p99_ttft_ms", "TTFT p99", _ms),
    ("median_tpot_ms", "TPOT p50", lambda v: _num(v, 1)),
    ("median_itl_ms", "ITL p50", lambda v: _num(v, 1)),
    ("median_e2el_ms", "E2EL p50", _ms),
    ("output_throughput", "out tok/s", lambda v: _num(v, 0)),
    ("request_throughput", "req/s", lambda v: _num(v, 2)),
    ("request_goodput", "goodput/s", lambda v: _num(v, 2)),
    ("reasoning_token_share", "reasoning", _share),
    ("prefix_cache_hit_rate", "cache hits", _share),
    ("cost_per_1m_output", "cost/1M out", lambda v: _num(v, 2)),
)


def tables(result: Mapping[str, Any]) -> list[tuple[str, list[str], list[list[str]]]]:
    """(title, header, rows) per workload, then tool quality: what both the terminal and the report show."""
    out = []
    header = [title for _, title, _ in COLUMNS]
    for workload in dict.fromkeys(r["workload"] for r in result["results"]):
        rows = [
            [fmt(r.get(key)) for key, _, fmt in COLUMNS]
            for r in result["results"]
            if r["workload"] == workload
        ]
        out.append((f"{workload} workload (times in ms)", header, rows))
    if result["tool_quality"]:
        rows = [
            [t, str(q["answers"])]
            + [_share(q[c]) for c in ("parseable", "schema_valid", "right_tool", "right_args")]
            for t, q in result["tool_quality"].items()
        ]
        head = ["target", "answers", "parseable", "schema-valid", "right tool", "right arguments"]
        out.append(("tool-call quality (tools workload)", head, rows))
    return out


def notes(result: Mapping[str, Any]) -> list[str]:
    lines = []
    for pair, a in result["agreement"].items():
        if a["same_tool"] is not None:
            lines.append(f"{pair}: the same tool in {_share(a['same_tool'])} of {a['tasks']} tasks")
    client = result["client"]
    lines.append(
        f"load generator: {client['chunks_per_cpu_second']:,.0f} chunks per CPU-second, "
        f"{_share(client['cpu_share'])} of one core over {client['wall_seconds']:.0f} s"
        + (" — it may have limited the figures" if client["bottleneck"] else "")
    )
    if result["stopped"]:
        lines.append(f"stopped early: {result['stopped']}")
    for target in result["targets"]:
        if (rate := target.get("standin_error_rate")) is not None:
            lines.append(
                f"{target['name']} is glm-serve's offline stand-in of the hosted API: it answers "
                f"{_share(rate)} of the tools workload wrong on purpose (--tool-error-rate), so that the "
                "scoring has failures to find; its quality figures say nothing of the hosted API's"
            )
    return lines


def print_summary(result: Mapping[str, Any], console: Console) -> None:
    for title, header, rows in tables(result):
        table = Table(title=title, title_justify="left")
        for name in header:
            table.add_column(
                name, justify="left" if name in ("target", "load") else "right", min_width=len(name)
            )
        for row in rows:
            table.add_row(*row)
        console.print(table)
    for line in notes(result):
        console.print(line)


def write_markdown(result: Mapping[str, Any], pictures: Sequence[Path], path: Path) -> None:
    config = result["config"]
    lines = [
        "# glm-serve bench",
        "",
        f"Run at {result['date']}. Workloads: "
        + ", ".join(f"{w['name']} ({w['version']}, {w['tasks']} requests)" for w in config["workloads"])
        + f"; load levels: {', '.join(config['levels'])}; {config['requests']} measured requests per target "
        f"and level after {config['warmup']} warm-up, in {config['rounds']} alternating rounds; thinking: "
        + ", ".join("on" if t else "off" for t in config["thinking"])
        + ".",
        "",
        "| target | URL | model |",
        "|---|---|---|",
        *[f"| {t['name']} | {t['base_url']} | {t['model']} |" for t in result["targets"]],
        "",
    ]
    for title, header, rows in tables(result):
        lines += [f"## {title[0].upper()}{title[1:]}", "", "| " + " | ".join(header) + " |"]
        lines.append("|" + "---|" * len(header))
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        lines.append("")
    lines += ["## Notes", ""] + [f"- {line}" for line in notes(result)]
    if config.get("slo"):
        lines.append(
            "- goodput counts requests meeting "
            + ", ".join(f"{k} ≤ {v:g} ms" for k, v in config["slo"].items())
        )
    lines.append(
        f"- costs in {config['currency']} per million output tokens (hosted: list prices; local: "
        "--gpu-hour-cost at the measured throughput)"
    )
    lines += ["", "## Figures", ""] + [f"![{p.stem}]({p.name})" for p in pictures]
    path.write_text("\n".join(lines) + "\n")


def write_json(result: Mapping[str, Any], path: Path) -> None:
    def clean(value: Any) -> Any:  # NaN is not JSON
        if isinstance(value, float) and math.isnan(value):
            return None
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        if isinstance(value, list):
            return [clean(v) for v in value]
        return value

    path.write_text(json.dumps(clean(result), indent=1, ensure_ascii=False))
