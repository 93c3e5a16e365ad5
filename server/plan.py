"""`glm-serve plan`: which presets fit this box (or one described), with what context, and the line to run."""

from __future__ import annotations

from dataclasses import dataclass, replace

from rich.console import Console
from rich.table import Table

from . import preflight
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
    resplit: int = 0  # a one-GPU preset spread over this many cards (tensor parallel) for more context


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
        fit, resplit = _fitted(model, gpus)
        rows.append(Row(name, engine.model, model, fit, resplit=resplit))
    return rows


def _fitted(model: Sized, gpus: Gpus) -> tuple[Fit, int]:
    """The preset's fit, or, for a one-GPU preset on a box of several, its fit spread over them by
    tensor parallelism when that fits where one card does not, or fits more context."""
    fit = plan(model.shape, model.weight_bytes, model.layout, gpus)
    if model.layout.gpus != 1 or gpus.count < 2:
        return fit, 0
    tp = 1 << (gpus.count.bit_length() - 1)  # vLLM's tensor parallelism wants a power of two
    wider = plan(model.shape, model.weight_bytes, replace(model.layout, tp=tp), gpus)
    if wider.fits and (not fit.fits or wider.context > fit.context):
        return wider, tp
    return fit, 0


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
    split = f" --tensor-parallel-size {row.resplit}" if row.resplit else ""
    return f"glm-serve serve {row.preset} --max-model-len {row.fit.context}{split}"


WIDE = 120  # columns from which the table shows KV bytes per token and the reasons in full


def table(gpus: Gpus, rows: list[Row], width: int = WIDE) -> Table:
    """The presets, fitting ones first. Below WIDE columns: no KV column and reasons in a few words, so
    that no row wraps in an 80-column terminal."""
    wide = width >= WIDE
    title = f"GLM presets on {gpus}" + (" (usable: gpu_memory_utilization x memory)" if wide else "")
    out = Table(title=title, title_justify="left", pad_edge=wide, collapse_padding=not wide)
    columns = [("preset", "left"), ("GPUs", "right"), ("weights/GPU" if wide else "GiB/GPU", "right")]
    columns += [("KV/token", "right")] if wide else []
    columns += [("context", "right"), ("sessions" if wide else "at once", "right"), ("verdict", "left")]
    for column, justify in columns:
        out.add_column(column, justify=justify, no_wrap=not wide and column != "verdict")  # type: ignore[arg-type]
    for r in sorted(rows, key=lambda r: (not (r.fit and r.fit.fits), r.preset)):
        if r.fit is None:
            problem = f": {r.problem}" if wide else ""
            out.add_row(
                r.preset, "", "", *([""] if wide else []), "", "", f"[yellow]unknown size[/]{problem}"
            )
            continue
        f = r.fit
        if f.fits:
            how = (
                ""
                if not r.resplit
                else f"spread over {r.resplit} cards (TP {r.resplit})"
                if wide
                else f"TP {r.resplit}"
            )
            detail = "; ".join(x for x in (how, f.note if wide else "") if x)
            verdict = "[green]fits[/]" + (f": {detail}" if detail else "")
        else:
            verdict = f"[red]no[/]: {f.reason if wide else f.brief}"
        weights = f"{f.weights / GIB:.1f}" + (" GiB" if wide else "")
        out.add_row(
            r.preset,
            str(r.resplit or f.gpus_needed),
            weights,
            *([f"{f.kv_per_token / 1024:.1f} KiB"] if wide else []),
            f"{f.context:,}" if f.fits else "",
            str(f.sessions) if f.fits else "",
            verdict,
        )
    return out


def run(gpus_spec: str | None, model: str | None, console: Console | None = None) -> int:
    console = console or Console()
    try:
        gpus = parse_gpus(gpus_spec) if gpus_spec else detect_gpus()
        if model:
            preflight.check_model_argument(model)
    except ValueError as exc:
        console.print(f"glm-serve plan: {exc}", soft_wrap=True)
        return 2
    if gpus is None:
        console.print("glm-serve plan: no CUDA GPU here; say which box to plan for, e.g. --gpus 2x24GB")
        return 2
    rows = rows_for(gpus, [model] if model else bundled.names())
    console.print(table(gpus, rows, console.width))
    choice = best(rows)
    if choice is None:
        console.print(f"Nothing fits on {gpus}.")
        return 1
    assert choice.fit is not None
    console.print(
        f"Best fit: [bold]{choice.preset}[/] ({choice.model}), {choice.fit.context:,} tokens of context, "
        f"{choice.fit.sessions} at once at that length. Run:\n"
    )
    console.print(f"  {serve_line(choice)}\n", soft_wrap=True, highlight=False)  # one line, to copy
    return 0
