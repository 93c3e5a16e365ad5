"""`glm-serve plan`: which presets fit this box (or one described), with what context, and the line to run."""

from __future__ import annotations

from dataclasses import dataclass

from rich.console import Console
from rich.table import Table

from . import presets as bundled
from .backends.local.sizing.fit import Fit, plan
from .backends.local.sizing.gpus import GIB, Gpus, detect_gpus, parse_gpus
from .backends.local.sizing.source import Sized, UnknownSize, sized
from .settings import SettingsError, load_settings

GOOD_CONTEXT = 32768  # what a coding assistant wants at least: its tools, files and history


@dataclass(frozen=True, slots=True)
class Row:
    preset: str
    model: str
    sized: Sized | None
    fit: Fit | None
    problem: str | None = None  # the preset could not be sized at all


def rows_for(gpus: Gpus, names: list[str]) -> list[Row]:
    rows = []
    for name in names:
        try:
            settings = load_settings({"model": name})
        except SettingsError as exc:
            rows.append(Row(name, name, None, None, str(exc)))
            continue
        engine = settings.engine
        if settings.server.backend in ("hosted", "upstream", "fake") or engine.demo or not engine.model:
            continue
        try:
            model = sized(engine)
        except UnknownSize as exc:
            rows.append(Row(name, engine.model, None, None, str(exc)))
            continue
        rows.append(Row(name, engine.model, model, plan(model.shape, model.weight_bytes, model.layout, gpus)))
    return rows


def best(rows: list[Row]) -> Row | None:
    """The most capable model that fits with a context a coding assistant can work in (the biggest
    weights; then the longest context; then the newest name), else the longest context of any that fits."""
    fitting = [r for r in rows if r.fit is not None and r.fit.fits and r.sized is not None]
    good = [r for r in fitting if r.fit is not None and r.fit.context >= GOOD_CONTEXT]
    pool = good or fitting
    if not pool:
        return None
    return max(
        pool, key=lambda r: (r.sized.weight_bytes if r.sized else 0, r.fit.context if r.fit else 0, r.preset)
    )


def serve_line(row: Row) -> str:
    assert row.fit is not None
    return f"glm-serve serve --model {row.preset} --max-model-len {row.fit.context}"


def table(gpus: Gpus, rows: list[Row]) -> Table:
    out = Table(
        title=f"GLM presets on {gpus} (usable: gpu_memory_utilization x memory)", title_justify="left"
    )
    for column, justify in (
        ("preset", "left"),
        ("GPUs", "right"),
        ("weights/GPU", "right"),
        ("KV/token", "right"),
        ("context", "right"),
        ("sessions", "right"),
        ("verdict", "left"),
    ):
        out.add_column(column, justify=justify)  # type: ignore[arg-type]
    for r in sorted(rows, key=lambda r: (not (r.fit and r.fit.fits), r.preset)):
        if r.fit is None:
            out.add_row(r.preset, "", "", "", "", "", f"[yellow]unknown size[/]: {r.problem}")
            continue
        f = r.fit
        verdict = (
            "[green]fits[/]" + (f": {f.note}" if f.note else "") if f.fits else f"[red]no[/]: {f.reason}"
        )
        out.add_row(
            r.preset,
            str(f.gpus_needed),
            f"{f.weights / GIB:.1f} GiB",
            f"{f.kv_per_token / 1024:.1f} KiB",
            f"{f.context:,}" if f.fits else "",
            str(f.sessions) if f.fits else "",
            verdict,
        )
    return out


def run(gpus_spec: str | None, model: str | None, console: Console | None = None) -> int:
    # A table this wide wraps every cell in a terminal of 80 columns: give it the width it needs.
    console = console or Console(width=max(Console().width, 150))
    try:
        gpus = parse_gpus(gpus_spec) if gpus_spec else detect_gpus()
    except ValueError as exc:
        console.print(f"glm-serve plan: {exc}")
        return 2
    if gpus is None:
        console.print("glm-serve plan: no CUDA GPU here; say which box to plan for, e.g. --gpus 2x24GB")
        return 2
    rows = rows_for(gpus, [model] if model else bundled.names())
    console.print(table(gpus, rows))
    choice = best(rows)
    if choice is None:
        console.print(f"Nothing fits on {gpus}.")
        return 1
    assert choice.fit is not None
    console.print(
        f"Best fit: [bold]{choice.preset}[/] ({choice.model}), {choice.fit.context:,} tokens of context, "
        f"{choice.fit.sessions} at once at that length. Run:\n\n  {serve_line(choice)}\n"
    )
    return 0
