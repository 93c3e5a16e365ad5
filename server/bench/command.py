"""`glm-serve bench`: flags, then probe → load → figures → files, each step in its own module.

glm-serve bench --target local=http://127.0.0.1:8000 --target hosted=zai --workload chat,agent,tools
    --concurrency 1,8,32 --slo ttft=2000,tpot=100 --gpu-hour-cost 12.5
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiohttp
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from . import costs, plots, report, scoring, stats, workloads
from .runner import Level, Load, Run, run
from .targets import BenchError, Target, parse_targets, probe

# The load generator is single-threaded (asyncio): past this share of one core it may be what limits.
BOTTLENECK_CPU_SHARE = 0.9


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add(
        "--target",
        action="append",
        default=[],
        metavar="NAME=URL",
        help="a server to measure: an OpenAI-compatible base URL, or zai / bigmodel for the hosted API "
        "(repeat; default: local=http://127.0.0.1:8000, plus hosted=zai when a key is set)",
    )
    add("--model", action="append", default=[], metavar="NAME=MODEL", help="the model to ask a target for")
    add(
        "--key-env",
        action="append",
        default=[],
        metavar="NAME=VAR",
        help="the environment variable holding a target's API key (default GLM_SERVE_API_KEY)",
    )
    add("--workload", default="chat,agent,tools", help=f"comma-separated: {', '.join(workloads.NAMES)}")
    add("--custom", type=Path, help="the custom workload: one JSON request body per line")
    add(
        "--thinking",
        choices=["on", "off", "both"],
        default="both",
        help="run each request thinking, not, or both",
    )
    add("--concurrency", default="1,8", help="comma-separated concurrency levels")
    add("--request-rate", default="", help="comma-separated request rates (Poisson arrivals), instead")
    add("--requests", type=int, default=24, help="measured requests per target and level")
    add("--duration", type=float, help="seconds per target and level, instead of --requests")
    add("--warmup", type=int, default=2, help="unmeasured requests per target and level")
    add("--rounds", type=int, default=4, help="alternations between the targets per level")
    add("--max-requests", type=int, default=5000, help="stop after this many requests in all")
    add("--max-seconds", type=float, default=3600, help="stop after this long in all")
    add("--timeout", type=float, default=600, help="seconds one request may take")
    add("--max-tokens", type=int, help="override every request's max_tokens")
    add("--ignore-eos", action="store_true", help="ask for exactly max_tokens (vLLM and glm-serve only)")
    add("--slo", help="goodput limits in ms, e.g. ttft=2000,tpot=100")
    add("--pricing", type=Path, help="hosted price table (default configs/bench/pricing.yaml)")
    add("--gpu-hour-cost", type=float, help="what the local box costs an hour, for its cost per 1M tokens")
    add(
        "--out",
        type=Path,
        help="where to write result.json, report.md and the figures (default bench-results/DATE-TIME)",
    )
    add("--seed", type=int, default=0, help="seeds the Poisson arrivals")


def main(args: argparse.Namespace) -> int:
    console = Console(stderr=True)
    try:
        return _main(args, console)
    except BenchError as exc:
        for line in str(exc).splitlines():  # plain print: a console would wrap a long line in two
            print(f"glm-serve bench: {line}", file=sys.stderr)
        return 2


def _pairs(specs: Sequence[str], flag: str) -> dict[str, str]:
    pairs = {}
    for spec in specs:
        name, sep, value = spec.partition("=")
        if not sep:
            raise BenchError(f"{flag} {spec!r}: expected NAME=VALUE")
        pairs[name] = value
    return pairs


def _levels(args: argparse.Namespace) -> tuple[Level, ...]:
    try:
        if args.request_rate:
            return tuple(Level("rate", float(x)) for x in args.request_rate.split(","))
        return tuple(Level("concurrency", int(x)) for x in args.concurrency.split(","))
    except ValueError as exc:
        raise BenchError(f"load levels: {exc}") from exc


def _main(args: argparse.Namespace, console: Console) -> int:
    targets = parse_targets(args.target, _pairs(args.key_env, "--key-env"))
    models = _pairs(args.model, "--model")
    targets = [Target(t.name, t.base_url, t.api_key, t.hosted, models.get(t.name, t.model)) for t in targets]
    targets = asyncio.run(_probe_all(targets))
    thinking = {"on": [True], "off": [False], "both": [False, True]}[args.thinking]
    names = [n.strip() for n in args.workload.split(",") if n.strip()]
    works = [workloads.load(n, thinking, args.custom, args.max_tokens) for n in names]
    try:
        slo = stats.parse_slo(args.slo)
    except ValueError as exc:
        raise BenchError(str(exc)) from exc
    pricing = costs.load(args.pricing)
    load = Load(
        _levels(args),
        args.requests,
        args.duration,
        args.warmup,
        args.rounds,
        args.max_requests,
        args.max_seconds,
        args.timeout,
        args.ignore_eos,
        args.seed,
    )
    console.print(
        "targets: " + ", ".join(f"{t.name} = {t.base_url} ({t.model})" for t in targets), highlight=False
    )
    planned = len(targets) * len(load.levels) * len(works) * load.requests if not load.duration else None
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as bar:
        job = bar.add_task("measuring", total=planned)

        def advance(what: str, n: int) -> None:
            bar.update(job, advance=n, description=what)

        result = asyncio.run(run(targets, works, load, advance))
    record = build(result, targets, works, load, slo, pricing, args.gpu_hour_cost, thinking)
    out = args.out or Path("bench-results") / datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    out.mkdir(parents=True, exist_ok=True)
    pictures = plots.draw(result, record["results"], record["tool_quality"], [t.name for t in targets], out)
    report.write_json(record, out / "result.json")
    report.write_markdown(record, pictures, out / "report.md")
    screen = Console()
    report.print_summary(record, Console(width=max(screen.width, report.TABLE_WIDTH)))
    if record["client"]["bottleneck"]:
        console.print("warning: the load generator used most of a core; the figures may be its limit")
    console.print(
        f"wrote {out / 'result.json'}, {out / 'report.md'} and {len(pictures)} figures", highlight=False
    )
    return 0


async def _probe_all(targets: Sequence[Target]) -> list[Target]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        found = await asyncio.gather(*(probe(session, t) for t in targets), return_exceptions=True)
    failures = [f for f in found if isinstance(f, BaseException)]
    for failure in failures:
        if not isinstance(failure, BenchError):
            raise failure
    if failures:
        raise BenchError("\n".join(str(f) for f in failures))
    return [t for t in found if isinstance(t, Target)]


def build(
    result: Run,
    targets: Sequence[Target],
    works: Sequence[workloads.Workload],
    load: Load,
    slo: dict[str, float],
    pricing: costs.Pricing,
    gpu_hour_cost: float | None,
    thinking: Sequence[bool],
) -> dict[str, Any]:
    """Everything the run measured, as result.json holds it."""
    by_name = {t.name: t for t in targets}
    tasks = {task.key: task for w in works for task in w.tasks}
    figures = []
    for phase in result.phases:
        row = stats.summarize(phase, slo)
        target = by_name[phase.target]
        cached = sum(s.cached_tokens for s in phase.samples if s.ok)
        row["cost_per_1m_output"] = (
            pricing.hosted(target.model, row, cached) if target.hosted else costs.local(gpu_hour_cost, row)
        )
        figures.append(row)
    measured = result.samples
    chunks = sum(s.chunks for s in measured) + sum(s.chunks for s in result.warmups)
    cpu_share = result.cpu / result.wall if result.wall else 0.0
    return {
        "tool": "glm-serve bench",
        "version": 1,
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "config": {
            "workloads": [{"name": w.name, "version": w.version, "tasks": len(w.tasks)} for w in works],
            "levels": [lv.label for lv in load.levels],
            "requests": load.requests,
            "duration": load.duration,
            "warmup": load.warmup,
            "rounds": load.rounds,
            "thinking": list(thinking),
            "ignore_eos": load.ignore_eos,
            "slo": slo,
            "currency": pricing.currency,
            "gpu_hour_cost": gpu_hour_cost,
        },
        "targets": [
            {
                "name": t.name,
                "base_url": t.base_url,
                "model": t.model,
                "hosted": t.hosted,
                "standin_error_rate": t.standin_error_rate,
            }
            for t in targets
        ],
        "results": figures,
        "tool_quality": scoring.quality(measured, tasks),
        "agreement": scoring.agreement(measured, tasks, [t.name for t in targets]),
        "warmup": {
            t.name: {
                "requests": sum(s.target == t.name for s in result.warmups),
                "output_tokens": sum(s.output_tokens for s in result.warmups if s.target == t.name and s.ok),
            }
            for t in targets
        },
        "client": {
            "wall_seconds": result.wall,
            "cpu_seconds": result.cpu,
            "cpu_share": cpu_share,
            "chunks": chunks,
            "chunks_per_cpu_second": chunks / result.cpu if result.cpu else 0.0,
            "bottleneck": cpu_share > BOTTLENECK_CPU_SHARE,
        },
        "stopped": result.stopped,
        "samples": [
            {
                "target": s.target,
                "task": s.task,
                "level": s.level,
                "start_s": round(s.start, 4),
                "ttft_ms": None if s.ttft is None else round(s.ttft * 1000, 2),
                "e2el_ms": round(s.e2el * 1000, 2),
                "prompt_tokens": s.prompt_tokens,
                "output_tokens": s.output_tokens,
                "error": s.error,
            }
            for s in measured
        ],
    }
