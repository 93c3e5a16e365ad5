"""Which backend serves: the settings' --backend (and --fallback) turned into a Backend, with the reason why.

    auto ─▶ a CUDA GPU and a local weights directory ─▶ local
         ─▶ else a hosted API key in the environment ─▶ hosted   (never in offline mode)
         ─▶ else a local weights directory ─▶ local, on whatever this box has
         ─▶ else a model was asked for ─▶ refused (it needs a GPU)
         ─▶ else the tiny random-weight demo model on CPU ─▶ local (announced as a demo)

Offline (--offline, or --model a local directory) the hosted API is never chosen, not by auto and not as
a fallback, and asking for it explicitly is an error.

Backends are imported only when chosen: the hosted and fake backends never load vLLM or torch.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from ..core.backend import Backend, Passthrough
from ..settings import EngineSettings, Settings

if TYPE_CHECKING:
    from .remote.hosted import HostedBackend

log = logging.getLogger("glm_serve")


def choose_backend(settings: Settings) -> tuple[Backend, Settings, str]:
    """The backend the settings ask for (wrapped in a fallback pair if asked), the settings as resolved
    for it (the demo's model, the context that fits this box: the app serves with these same ones), and
    why it was chosen."""
    server, engine = settings.server, settings.engine
    if engine.offline_mode and "hosted" in (
        server.backend,
        server.fallback_backend if server.fallback != "none" else "",
    ):
        raise ValueError(
            "offline mode never uses the hosted API: choose --backend local (or upstream, a server on "
            "your own network), or --no-offline"
        )
    primary, settings, reason = _one_backend(settings, server.backend)
    if server.fallback == "none":
        return primary, settings, reason
    from .fallback import FallbackBackend

    secondary, _, why = _one_backend(settings, server.fallback_backend)
    pair = FallbackBackend(primary, secondary, server.fallback, server.spillover_queue_depth)
    return pair, settings, f"{reason}; {server.fallback} to {secondary.name} ({why})"


def choose_passthrough(settings: Settings, backend: Backend) -> Passthrough | None:
    """Who answers the hosted-only endpoints (embeddings, images): the hosted API, when a key is set and
    the deployment is not offline; the serving backend itself when it is the hosted one."""
    from .remote.hosted import HostedBackend, api_key

    if settings.engine.offline_mode:
        return None
    for candidate in (backend, getattr(backend, "secondary", None)):
        if isinstance(candidate, HostedBackend):
            return candidate
    return _hosted(settings) if api_key() else None


def _one_backend(settings: Settings, kind: str) -> tuple[Backend, Settings, str]:
    engine = settings.engine
    if kind == "fake":
        from .fake import FakeBackend

        return FakeBackend(model=engine.served_name()), settings, "--backend fake"
    if kind == "hosted":
        return _hosted(settings), settings, "--backend hosted"
    if kind == "upstream":
        from .remote.upstream import UpstreamBackend

        why = f"--backend upstream ({settings.remote.upstream_url})"
        return UpstreamBackend(settings.remote, engine), settings, why
    if engine.demo:
        if conflict := engine.demo_conflict():
            raise ValueError(conflict)
        return _local(settings, "settings ask for the demo")
    if kind == "local":
        return _local(settings, "--backend local")
    weights = bool(engine.model) and _is_weights_dir(str(engine.model))
    if weights and _gpu_available():
        return _local(settings, f"a CUDA GPU and local weights in {engine.model}")
    from .remote.hosted import api_key

    if not engine.offline_mode and api_key():
        return _hosted(settings), settings, "no usable GPU with local weights; a hosted API key is set"
    if weights:
        log.warning("no usable GPU: serving %s on what this machine has", engine.model)
        return _local(settings, f"local weights in {engine.model}, no usable GPU")
    if engine.model:
        # A model was asked for: the demo in its place would answer as if it were that model.
        raise ValueError(f"{engine.model} needs a GPU; this machine has none usable — try --backend hosted")
    return _local(settings, "no model asked for: the demo", demo=True)


def _hosted(settings: Settings) -> HostedBackend:
    from .remote.hosted import HostedBackend

    return HostedBackend(settings.remote, settings.engine.served_model_name)


def _local(settings: Settings, why: str, demo: bool = False) -> tuple[Backend, Settings, str]:
    """The local backend, its engine settings resolved once (start.resolve) and handed back with it."""
    from .local import start
    from .local.engine import LocalBackend

    engine: EngineSettings = settings.engine.model_copy(update={"demo": True}) if demo else settings.engine
    resolved = settings.model_copy(update={"engine": start.resolve(engine)})
    return LocalBackend(resolved.engine), resolved, why


def _gpu_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def _is_weights_dir(model: str) -> bool:
    return (Path(model) / "config.json").is_file()
