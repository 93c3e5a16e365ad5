"""The load: levels (fixed concurrency, or Poisson arrivals at a rate), run on every target in turn.

At each level every target first gets a few warm-up requests (not measured), then the measured requests
in rounds that alternate between the targets, rotating who goes first, so that the machine's drift (a
busy neighbour, thermal throttling, the hosted API's time of day) falls on all of them alike. Every target
gets the same requests in the same order. The run stops early, and says so, at --max-requests or
--max-seconds.
"""

from __future__ import annotations

import asyncio
import math
import random
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import aiohttp

from .client import Sample, send
from .targets import Target
from .workloads import Workload

_COUNTER = re.compile(
    r"^(vllm:prefix_cache_(?:queries|hits))(?:_total)?(?:\{[^}]*\})?\s+([0-9.eE+-]+)$", re.M
)


@dataclass(frozen=True, slots=True)
class Level:
    kind: str  # "concurrency" or "rate"
    value: float

    @property
    def label(self) -> str:
        return f"c={int(self.value)}" if self.kind == "concurrency" else f"rate={self.value:g}/s"


@dataclass(frozen=True, slots=True)
class Load:
    levels: tuple[Level, ...]
    requests: int = 32  # measured requests per target and level (unless `duration`)
    duration: float | None = None  # seconds per target and level instead of a request count
    warmup: int = 2  # requests per target and level before measuring
    rounds: int = 4  # alternations between the targets per level
    max_requests: int = 5000
    max_seconds: float = 1800.0
    timeout: float = 600.0  # one request
    ignore_eos: bool = False
    seed: int = 0


@dataclass
class Phase:
    """One target at one level of one workload: its samples and the wall time it was measured for."""

    target: str
    workload: str
    level: Level
    samples: list[Sample] = field(default_factory=list)
    seconds: float = 0.0
    cache_queries: float | None = None
    cache_hits: float | None = None


@dataclass
class Run:
    phases: list[Phase] = field(default_factory=list)
    warmups: list[Sample] = field(default_factory=list)
    stopped: str | None = None  # why the run ended before its plan, if it did
    wall: float = 0.0
    cpu: float = 0.0  # the load generator's own CPU seconds

    @property
    def samples(self) -> list[Sample]:
        return [s for p in self.phases for s in p.samples]


Progress = Callable[[str, int], None]  # (what is running, requests just finished)


async def run(
    targets: Sequence[Target], workloads: Sequence[Workload], load: Load, progress: Progress | None = None
) -> Run:
    result = Run()
    epoch = time.perf_counter()
    cpu = time.process_time()
    deadline = epoch + load.max_seconds
    budget = [load.max_requests]
    rng = random.Random(load.seed)
    connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=300)
    async with aiohttp.ClientSession(
        connector=connector, timeout=aiohttp.ClientTimeout(total=None)
    ) as session:

        async def wave(
            target: Target,
            work: Workload,
            level: Level,
            indices: Sequence[int],
            warm: bool,
            until: float | None,
        ) -> list[Sample]:
            out: list[Sample] = []
            queue = list(indices)

            async def one(i: int) -> None:
                task = work.tasks[i % len(work.tasks)]
                sample = await send(
                    session,
                    target,
                    task,
                    level=level.label,
                    warmup=warm,
                    epoch=epoch,
                    timeout=load.timeout,
                    ignore_eos=load.ignore_eos,
                )
                out.append(sample)
                if progress is not None and not warm:
                    progress(f"{work.name} {level.label} {target.name}", 1)

            def more() -> bool:
                now = time.perf_counter()
                if now > deadline or budget[0] <= 0:
                    result.stopped = result.stopped or (
                        "--max-seconds reached" if now > deadline else "--max-requests reached"
                    )
                    return False
                return bool(queue) if until is None else now < until

            def take() -> int:
                budget[0] -= 1
                return queue.pop(0) if queue else len(out)

            if level.kind == "concurrency":

                async def worker() -> None:
                    while more():
                        await one(take())

                await asyncio.gather(*(worker() for _ in range(int(level.value))))
            else:
                running: set[asyncio.Task[None]] = set()
                while more():
                    running.add(asyncio.create_task(one(take())))
                    await asyncio.sleep(rng.expovariate(level.value))
                await asyncio.gather(*running)
            return out

        for work in workloads:
            for level in load.levels:
                phases = {t.name: Phase(t.name, work.name, level) for t in targets}
                for target in targets:
                    warm = await wave(target, work, level, range(load.warmup), True, None)
                    result.warmups += warm
                rounds = max(1, load.rounds)
                per_round = math.ceil(load.requests / rounds)
                for r in range(rounds):
                    order = list(targets[r % len(targets) :]) + list(targets[: r % len(targets)])
                    first = load.warmup + r * per_round
                    indices = range(first, first + min(per_round, load.requests - r * per_round))
                    for target in order:
                        phase = phases[target.name]
                        before = await _cache_counters(session, target)
                        started = time.perf_counter()
                        until = started + load.duration / rounds if load.duration else None
                        phase.samples += await wave(
                            target, work, level, indices if until is None else (), False, until
                        )
                        phase.seconds += time.perf_counter() - started
                        _add_cache(phase, before, await _cache_counters(session, target))
                    if result.stopped:
                        break
                result.phases += phases.values()
                if result.stopped:
                    break
            if result.stopped:
                break
    result.wall = time.perf_counter() - epoch
    result.cpu = time.process_time() - cpu
    return result


async def _cache_counters(session: aiohttp.ClientSession, target: Target) -> dict[str, float] | None:
    """vLLM's prefix-cache counters from the target's /metrics, where it has them."""
    if target.hosted:
        return None
    try:
        async with session.get(
            target.origin + "/metrics", headers=target.headers(), timeout=aiohttp.ClientTimeout(total=5)
        ) as r:
            if r.status != 200:
                return None
            text = await r.text()
    except (aiohttp.ClientError, TimeoutError):
        return None
    found: dict[str, float] = {}
    for name, value in _COUNTER.findall(text):
        found[name] = found.get(name, 0.0) + float(value)
    return found or None


def _add_cache(phase: Phase, before: dict[str, float] | None, after: dict[str, float] | None) -> None:
    if before is None or after is None:
        return
    queries = after.get("vllm:prefix_cache_queries", 0) - before.get("vllm:prefix_cache_queries", 0)
    hits = after.get("vllm:prefix_cache_hits", 0) - before.get("vllm:prefix_cache_hits", 0)
    phase.cache_queries = (phase.cache_queries or 0) + queries
    phase.cache_hits = (phase.cache_hits or 0) + hits
