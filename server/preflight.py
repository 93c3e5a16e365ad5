"""Preflight: what `serve` refuses before anything loads, each refusal one line naming the cause and the fix.

A model load takes a minute on the demo and twenty on real weights; a typo should cost two seconds. So
everything that can be known from the settings, the disk and the driver is checked here, before torch,
transformers or vLLM is imported: what the model argument names (a preset, a weights directory, a hub
repo id), whether its weights are a directory on this disk when the network may not be used, whether
the box has the GPUs it needs, and whether a hosted backend has its key. (The port is bound next, by
the command line, also before loading: server/__main__.py.)
"""

from __future__ import annotations

import difflib
import os
import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from . import presets
from .settings import Settings

# A hub repo id: one owner, one name (`zai-org/GLM-4.7-FP8`). Anything with more slashes, or starting
# like a path, is a path.
_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
# The hosted backend's key variables (remote/hosted.py api_key(), which importing here would cost the
# preflight a third of a second of aiohttp; a test keeps the two in step).
HOSTED_KEY_VARIABLES = ("BIGMODEL_API_KEY", "ZAI_API_KEY")


class Refused(ValueError):
    """The settings cannot serve; the message is the one line the user sees."""


@dataclass(frozen=True, slots=True)
class Box:
    """What this machine offers, as far as the preflight needs to know."""

    gpus: int  # CUDA GPUs visible to this process
    hosted_key: bool  # a hosted API key is in the environment
    gpu_memory: int | None = None  # bytes on the smallest GPU, when the driver says


def this_box(environ: Mapping[str, str] = os.environ) -> Box:
    gpus = visible_gpus(environ)
    return Box(
        gpus=gpus,
        hosted_key=any(environ.get(name) for name in HOSTED_KEY_VARIABLES),
        gpu_memory=smallest_gpu_memory() if gpus else None,
    )


def smallest_gpu_memory() -> int | None:
    """The smallest GPU's memory in bytes, from nvidia-smi (a tenth of a second; torch takes seconds)."""
    try:
        done = subprocess.run(
            ["nvidia-smi", "--query-gpu=memory.total", "--format=csv,noheader,nounits"],
            capture_output=True,
            text=True,
            timeout=5,
        )
        sizes = [int(line) * 2**20 for line in done.stdout.split() if line.strip().isdigit()]
    except (OSError, subprocess.TimeoutExpired):
        return None
    return min(sizes) if sizes else None


def visible_gpus(environ: Mapping[str, str] = os.environ) -> int:
    """CUDA GPUs this process may use, read from the driver's /proc entries in microseconds (torch's
    count costs seconds of import), narrowed by CUDA_VISIBLE_DEVICES."""
    proc = Path("/proc/driver/nvidia/gpus")
    count = sum(1 for _ in proc.iterdir()) if proc.is_dir() else 0
    visible = environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        listed = [v for v in visible.split(",") if v.strip() and not v.strip().startswith("-")]
        count = min(count, len(listed))
    return count


def check_model_argument(model: str) -> None:
    """What a `--model` (or the positional MODEL) names must exist: a preset, a weights directory, or a
    hub repo id. A typo in a preset name gets the nearest names; a path that is not there says so."""
    if presets.path(model) is not None:
        return
    path = Path(model).expanduser()
    if path.exists():
        if path.is_dir() and not (path / "config.json").is_file():
            raise Refused(f"{model} is not a weights directory (no config.json in it)")
        if not path.is_dir():
            raise Refused(f"{model} is a file; give the directory that holds the weights")
        return
    if model.startswith(("/", ".", "~")) or model.count("/") > 1 or model.endswith("/"):
        raise Refused(f"no such directory: {model}")
    if _REPO_ID.match(model):
        return
    near = difflib.get_close_matches(model, presets.names(), n=3, cutoff=0.6)
    hint = f"did you mean {' or '.join(near)}? " if near else ""
    raise Refused(
        f"unknown preset {model!r}: {hint}`glm-serve plan` lists the presets; a weights directory or a "
        "hub repo id (owner/name) works too"
    )


def check(settings: Settings, box: Box, asked: str | None = None) -> None:
    """The settings, as loaded, against this box: raises Refused with the first reason they cannot serve.
    `asked` is the model as the user wrote it (a preset's name), for the messages."""
    server, engine = settings.server, settings.engine
    if conflict := engine.demo_conflict():
        raise Refused(conflict)
    hosted_wanted = server.backend == "hosted" or (
        server.fallback != "none" and server.fallback_backend == "hosted"
    )
    if hosted_wanted and not box.hosted_key and not engine.offline_mode:
        raise Refused(
            "--backend hosted needs a key: export ZAI_API_KEY (z.ai) or BIGMODEL_API_KEY (bigmodel.cn)"
        )
    if server.backend not in ("auto", "local") or engine.demo or not engine.model:
        return
    model = engine.model
    if Path(model).expanduser().is_dir():
        return
    named = asked or model
    if engine.offline_mode:
        # Offline serves weights directories only (the hub is never asked, not even its cache).
        raise Refused(
            f"offline, and {model} is not a weights directory on this disk: run `glm-serve download "
            f"{named} --to DIR` where there is a network, then `glm-serve serve DIR`"
        )
    needed = _gpus_needed(settings)
    # A preset is sized for GPUs; so, under auto, is any model asked for. A hub id with an explicit
    # --backend local is the operator's call: vLLM runs it on what the box has.
    preset = asked is not None and presets.path(asked) is not None
    if box.gpus == 0 and (preset or (server.backend == "auto" and not box.hosted_key)):
        gpus = f"{needed} GPUs" if needed > 1 else "a GPU"
        raise Refused(
            f"{named} needs {gpus}; this machine has none — try --backend hosted (with ZAI_API_KEY set), "
            "or `glm-serve serve` alone for the CPU demo"
        )
    if 0 < box.gpus < needed and not _multi_node(settings):
        raise Refused(
            f"{named} needs {needed} GPUs; this machine has {box.gpus} — `glm-serve plan` shows what "
            "fits here"
        )
    if box.gpus >= needed and box.gpu_memory and (reason := _misfit(settings, box)):
        raise Refused(
            f"{named} does not fit this machine's GPUs: {reason} — `glm-serve plan` shows what does"
        )


def _misfit(settings: Settings, box: Box) -> str | None:
    """The plan's reason the model cannot fit these GPUs at all (None: it fits, or its size is unknown)."""
    from .backends.local.sizing.fit import plan
    from .backends.local.sizing.gpus import Gpus
    from .backends.local.sizing.source import UnknownSize, sized

    try:
        model = sized(settings.engine)
    except UnknownSize:
        return None
    assert box.gpu_memory is not None
    return plan(model.shape, model.weight_bytes, model.layout, Gpus(box.gpus, box.gpu_memory)).reason


def _gpus_needed(settings: Settings) -> int:
    extra = settings.engine.vllm_args
    tp = settings.engine.tensor_parallel_size
    pp = int(extra.get("pipeline_parallel_size", 1))
    dp = int(extra.get("data_parallel_size_local", extra.get("data_parallel_size", 1)))
    return max(1, tp * pp * dp)


def _multi_node(settings: Settings) -> bool:
    """A layout spread over several machines: this box holds only its share of the GPUs."""
    extra = settings.engine.vllm_args
    return extra.get("distributed_executor_backend") == "ray" or "data_parallel_size_local" in extra
