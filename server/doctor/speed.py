"""The doctor's speed section: time to first token and output tokens/s at concurrency 1 and 16 on a short
fixed load, measured by `glm-serve bench`'s own runner; with --compare-vllm, the same load on vLLM's own
server of the same weights, interleaved with ours, as ratios (so that the box's noise cancels).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

from ..bench import stats, workloads
from ..bench.runner import Level, Load, run
from ..bench.targets import Target
from ..settings import EngineSettings
from .checks import Check, Status

LEVELS = (1, 16)
# Below this share of vLLM's own output rate, glm-serve's front end costs something worth reporting.
SLOWER = 0.9


def measure(
    targets: Sequence[Target], requests: int = 16, max_tokens: int = 64
) -> dict[tuple[str, int], Any]:
    """Each target's figures at each level, from the chat workload with thinking off (ignore_eos, so that
    every request generates max_tokens: equal work for every target)."""
    work = workloads.load("chat", [False], max_tokens=max_tokens)
    load = Load(
        levels=tuple(Level("concurrency", c) for c in LEVELS),
        requests=requests,
        warmup=2,
        rounds=2 if len(targets) > 1 else 1,
        ignore_eos=True,
    )
    result = asyncio.run(run(targets, [work], load))
    return {(p.target, int(p.level.value)): stats.summarize(p, {}) for p in result.phases}


def speed_checks(figures: dict[tuple[str, int], Any], ours: str, theirs: str | None = None) -> list[Check]:
    out = []
    for level in LEVELS:
        mine = figures.get((ours, level))
        if mine is None or not mine["completed"]:
            out.append(Check("speed", f"concurrency {level}", "fail", "no request completed"))
            continue
        detail = _line(mine)
        status: Status = "ok" if not mine["failed"] else "warn"
        other = figures.get((theirs, level)) if theirs else None
        if other is not None and other["completed"]:
            rate = mine["output_throughput"] / other["output_throughput"]
            ttft = (mine["median_ttft_ms"] or 0) / (other["median_ttft_ms"] or 1)
            detail += f"; vLLM serve: {_line(other)}; glm-serve/vLLM: tok/s x{rate:.2f}, TTFT x{ttft:.2f}"
            status = "warn" if rate < SLOWER else status
        out.append(Check("speed", f"concurrency {level}", status, detail))
    return out


def _line(f: dict[str, Any]) -> str:
    return (
        f"TTFT p50 {f['median_ttft_ms']:.0f} ms, {f['output_throughput']:.0f} output tok/s "
        f"({f['completed']} requests, {f['failed']} failed)"
    )


def vllm_command(engine: EngineSettings, port: int) -> tuple[list[str], dict[str, str]]:
    """vLLM's own OpenAI server on the same weights and engine arguments as `engine` (resolved)."""
    command = [
        sys.executable,
        "-m",
        "vllm.entrypoints.openai.api_server",
        "--model",
        str(engine.model),
        "--served-model-name",
        engine.served_name(),
        "--port",
        str(port),
        "--tensor-parallel-size",
        str(engine.tensor_parallel_size),
        "--gpu-memory-utilization",
        str(engine.gpu_memory_utilization),
        "--enable-prefix-caching" if engine.enable_prefix_caching else "--no-enable-prefix-caching",
    ]
    if engine.max_model_len:
        command += ["--max-model-len", str(engine.max_model_len)]
    if engine.speculative_config:
        command += ["--speculative-config", json.dumps(engine.speculative_config)]
    for key, value in engine.vllm_args.items():
        flag = "--" + key.replace("_", "-")
        if value is True:
            command.append(flag)
        elif value is not False:
            command += [flag, value if isinstance(value, str) else json.dumps(value)]
    env = dict(os.environ)
    if engine.kv_cache_gib is not None:
        env.setdefault("VLLM_CPU_KVCACHE_SPACE", str(engine.kv_cache_gib))
    return command, env
