"""Which backend serves: the settings' --backend (and --fallback) turned into a Backend, with the reason why.

    auto ─▶ a CUDA GPU and a local weights directory ─▶ local
         ─▶ else a hosted API key in the environment ─▶ hosted   (never in offline mode)
         ─▶ else, offline with a local weights directory ─▶ local, on whatever this box has
         ─▶ else the tiny random-weight demo model on CPU ─▶ local (announced as a demo)

Offline (--offline, or --model a local directory) the hosted API is never chosen, not by auto and not as
a fallback, and asking for it explicitly is an error.

Backends are imported only when chosen: the hosted and fake backends never load vLLM or torch.
"""

from __future__ import annotations

import logging
from pathlib import Path

from ..core.backend import Backend, Passthrough
from ..settings import Settings
from .local.tiny_model import TINY_MODEL_DIR

log = logging.getLogger("glm_serve")


def choose_backend(settings: Settings) -> tuple[Backend, Settings, str]:
    """The backend the settings ask for (wrapped in a fallback pair if asked), its settings, and why."""
    if settings.offline_mode and "hosted" in (
        settings.backend,
        settings.fallback_backend if settings.fallback != "none" else "",
    ):
        raise ValueError(
            "offline mode never uses the hosted API: choose --backend local (or upstream, a server on "
            "your own network), or --no-offline"
        )
    primary, settings, reason = _one_backend(settings, settings.backend)
    if settings.fallback == "none":
        return primary, settings, reason
    from .fallback import FallbackBackend

    secondary, _, why = _one_backend(settings, settings.fallback_backend)
    pair = FallbackBackend(primary, secondary, settings.fallback, settings.spillover_queue_depth)
    return pair, settings, f"{reason}; {settings.fallback} to {secondary.name} ({why})"


def choose_passthrough(settings: Settings, backend: Backend) -> Passthrough | None:
    """Who answers the hosted-only endpoints (embeddings, images): the hosted API, when a key is set and
    the deployment is not offline; the serving backend itself when it is the hosted one."""
    from .remote.hosted import HostedBackend, api_key

    if settings.offline_mode:
        return None
    for candidate in (backend, getattr(backend, "secondary", None)):
        if isinstance(candidate, HostedBackend):
            return candidate
    return HostedBackend(settings) if api_key() else None


def _one_backend(settings: Settings, kind: str) -> tuple[Backend, Settings, str]:
    if kind == "fake":
        from .fake import FakeBackend

        return FakeBackend(model=settings.served_name()), settings, "--backend fake"
    if kind == "hosted":
        from .remote.hosted import HostedBackend

        return HostedBackend(settings), settings, "--backend hosted"
    if kind == "upstream":
        from .remote.upstream import UpstreamBackend

        return UpstreamBackend(settings), settings, f"--backend upstream ({settings.upstream_url})"
    if settings.demo:
        return _tiny_demo(settings)
    if kind == "local":
        from .local.engine import LocalBackend

        return LocalBackend(settings), settings, "--backend local"
    if settings.model and _gpu_available() and _is_weights_dir(settings.model):
        from .local.engine import LocalBackend

        return LocalBackend(settings), settings, f"a CUDA GPU and local weights in {settings.model}"
    if settings.offline_mode:
        if settings.model and _is_weights_dir(settings.model):
            from .local.engine import LocalBackend

            log.warning("offline without a usable GPU: serving %s on what this machine has", settings.model)
            return LocalBackend(settings), settings, f"offline, local weights in {settings.model}"
        return _tiny_demo(settings)
    from .remote.hosted import HostedBackend, api_key

    if api_key():
        return HostedBackend(settings), settings, "no usable GPU with local weights; a hosted API key is set"
    return _tiny_demo(settings)


def _tiny_demo(settings: Settings) -> tuple[Backend, Settings, str]:
    from .local.engine import LocalBackend

    if not (TINY_MODEL_DIR / "config.json").exists():
        from .local.tiny_model import build

        log.warning("building the tiny demo model in %s", TINY_MODEL_DIR)
        build(TINY_MODEL_DIR)
    demo = settings.model_copy(
        update={
            "model": str(TINY_MODEL_DIR),
            "served_model_name": settings.served_model_name or "glm-tiny-demo",
            "demo": True,
            "kv_cache_gib": settings.kv_cache_gib or 1,
            "gpu_memory_utilization": min(settings.gpu_memory_utilization, 0.3),
            "max_model_len": settings.max_model_len or 4096,
        }
    )
    why = (
        "settings ask for the demo" if settings.demo else "no usable GPU with local weights and no hosted key"
    )
    return LocalBackend(demo), demo, why


def _gpu_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def _is_weights_dir(model: str) -> bool:
    return (Path(model) / "config.json").is_file()
