"""The doctor's report: a terminal table, and doctor.md + doctor.json to attach to a bug report."""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from .checks import Check

_MARK = {"ok": "[green]ok[/]", "warn": "[yellow]warn[/]", "fail": "[red]FAIL[/]", "skip": "[dim]skip[/]"}


def verdict(checks: Sequence[Check]) -> str:
    if any(c.status == "fail" for c in checks):
        return "fail"
    return "warn" if any(c.status == "warn" for c in checks) else "ok"


def show(checks: Sequence[Check], console: Console) -> None:
    table = Table(title="glm-serve doctor")
    for column in ("", "check", "status", "detail", "fix"):
        table.add_column(column)
    for c in checks:
        table.add_row(c.group, c.name, _MARK[c.status], c.detail, c.fix)
    console.print(table)
    console.print(f"verdict: {verdict(checks)}")


def document(checks: Sequence[Check], about: dict[str, Any]) -> dict[str, Any]:
    """Everything in the report, as JSON: each check (with its request and answer), and the box."""
    return {
        "verdict": verdict(checks),
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "platform": platform.platform(),
        "python": platform.python_version(),
        **about,
        "checks": [_check(c) for c in checks],
    }


def _check(c: Check) -> dict[str, Any]:
    out: dict[str, Any] = {"group": c.group, "name": c.name, "status": c.status, "detail": c.detail}
    if c.fix:
        out["fix"] = c.fix
    if c.exchange is not None:
        x = c.exchange
        out["request"] = {"path": x.path, "body": x.body}
        out["response"] = {"status": x.status, "seconds": round(x.seconds, 3), "body": x.answer}
    return out


def write(out: Path, checks: Sequence[Check], about: dict[str, Any]) -> tuple[Path, Path]:
    """doctor.json and doctor.md in `out`. Requests carry no key (the probe sends it as a header only)."""
    out.mkdir(parents=True, exist_ok=True)
    doc = document(checks, about)
    json_path, md_path = out / "doctor.json", out / "doctor.md"
    json_path.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    lines = [
        f"# glm-serve doctor: {doc['verdict']}",
        "",
        f"{doc['at']}, {doc['platform']}, Python {doc['python']}",
        "",
        *(f"- {k}: {v}" for k, v in about.items()),
        "",
        "| | check | status | detail | fix |",
        "|---|---|---|---|---|",
        *(f"| {c.group} | {c.name} | {c.status} | {_cell(c.detail)} | {_cell(c.fix)} |" for c in checks),
    ]
    failed = next((c for c in checks if c.status == "fail" and c.exchange is not None), None)
    if failed is not None and failed.exchange is not None:
        x = failed.exchange
        lines += [
            "",
            f"## The first failing request: {failed.name}",
            "",
            f"`POST {x.path}`",
            "",
            "```json",
            json.dumps(x.body, indent=2, ensure_ascii=False),
            "```",
            "",
            f"HTTP {x.status} in {x.seconds:.2f} s:",
            "",
            "```json",
            json.dumps(x.answer, indent=2, ensure_ascii=False)[:20000],
            "```",
        ]
    md_path.write_text("\n".join(lines) + "\n")
    return md_path, json_path


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
