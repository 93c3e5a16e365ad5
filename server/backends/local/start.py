"""The engine's start and stop, in the order they happen: the one place to read how a local model comes up.

    resolve   the model to load (the tiny demo is built on first use) and, on GPUs, the context that fits
    check     the weights hold every file, the template is one we parse, vLLM takes the arguments
    load      vLLM's AsyncLLM, its engine processes tied to this one (lifeline.py); on CPU, the session
              giving way to other sessions (sharing.py)
    warm up   the chat template rendered and tokenized once, before any client waits on it
    ready     one log line
    stop      the mirror: vLLM's output handler, then the engine, then its heap

`resolve` runs once, before the app is built, so the app and the engine see the same settings; `check`
runs in the backend's constructor (a refusal is one line, before anything loads); `load` in the
backend's start, on a worker thread (it blocks for the whole load).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...core.request import ChatRequest, Message
from ...settings import EngineSettings
from . import lifeline, sharing, weights
from .images import ImageLoader
from .prompt import PromptRenderer, profile
from .sizing.fit import plan
from .sizing.gpus import Gpus, detect_gpus
from .sizing.source import UnknownSize, sized
from .template import TemplateProfile, UnknownTemplate
from .tiny_model import TINY_MODEL_DIR, build

if TYPE_CHECKING:
    from vllm.v1.engine.async_llm import AsyncLLM

log = logging.getLogger("glm_serve.local")

ENGINE_SHUTDOWN_SECONDS = 4.0
# GLM ends a turn with any of these; all three must stop generation (zai-org/GLM-4#398).
STOP_TOKENS = ("<|endoftext|>", "<|user|>", "<|observation|>")


# -- resolve ------------------------------------------------------------------------------------------


def resolve(engine: EngineSettings, gpus: Gpus | None = None) -> EngineSettings:
    """The engine settings the server will run with, decided once: the demo's own model and limits,
    and on CUDA GPUs (or `gpus`) the plan's context."""
    if engine.demo:
        engine = _tiny_demo(engine)
    return size_for_this_box(engine, gpus)


def _tiny_demo(engine: EngineSettings) -> EngineSettings:
    if not (TINY_MODEL_DIR / "config.json").exists():
        log.warning("building the tiny demo model in %s", TINY_MODEL_DIR)
        build(TINY_MODEL_DIR)
    return engine.model_copy(
        update={
            "model": str(TINY_MODEL_DIR),
            "served_model_name": engine.served_model_name or "glm-tiny-demo",
            "kv_cache_gib": engine.kv_cache_gib or 1,
            "gpu_memory_utilization": min(engine.gpu_memory_utilization, 0.3),
            "max_model_len": engine.max_model_len or 4096,
        }
    )


def size_for_this_box(engine: EngineSettings, gpus: Gpus | None = None) -> EngineSettings:
    """On CUDA GPUs (or `gpus`): refuse a model that cannot fit at all, with the plan's reason, before
    vLLM allocates anything; without --max-model-len, take the largest context the plan fits (capped by
    the model's own). Elsewhere (CPU) the settings are left as they are."""
    gpus = gpus or detect_gpus()
    if gpus is None:
        return engine
    try:
        model = sized(engine)
    except UnknownSize as exc:
        log.info("no plan for this model (%s); vLLM will size its cache itself", exc)
        return engine
    fit = plan(model.shape, model.weight_bytes, model.layout, gpus)
    if not fit.fits:
        raise ValueError(f"{engine.model} does not fit on {gpus}: {fit.reason} (see `glm-serve plan`)")
    if engine.max_model_len is None:
        log.info(
            "max_model_len %d: the largest context that fits on %s (%d such sessions at once; "
            "--max-model-len to choose another)",
            fit.context,
            gpus,
            fit.sessions,
        )
        return engine.model_copy(update={"max_model_len": fit.context})
    if fit.note:
        log.warning("%s on %s by the plan: %s", engine.model, gpus, fit.note)
    return engine


# -- check --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Checked:
    """What the checks before loading settled."""

    engine: EngineSettings
    args: Any  # vLLM's AsyncEngineArgs
    # None when the tokenizer is not on this disk yet (a hub id): read once the engine has fetched it.
    profile: TemplateProfile | None


def check(engine: EngineSettings) -> Checked:
    """Everything that can be refused before loading, each refusal a ValueError of one line: no model,
    a weights directory that lacks a file, a hub id while offline, arguments vLLM will not take, a chat
    template we cannot parse (a load can take twenty minutes; these take a second)."""
    if not engine.model:
        raise ValueError("the local backend needs --model (a weights directory or a preset name)")
    if Path(engine.model).is_dir():
        weights.check(Path(engine.model), engine.speculative_config)
    elif engine.offline_mode:
        raise ValueError(
            f"offline, and {engine.model!r} is not a weights directory on this machine: the hub may "
            "not be asked (fetch the weights with `glm-serve download` where there is a network)"
        )
    try:
        args = engine_args(engine)
    except Exception as exc:  # unknown vllm_args keys, values vLLM refuses, a model it cannot find
        raise ValueError(f"vLLM refuses these engine arguments: {type(exc).__name__}: {exc}") from exc
    local_tokenizer = Path(args.tokenizer or engine.model).is_dir()
    return Checked(engine, args, read_template(args, engine) if local_tokenizer else None)


def engine_args(engine: EngineSettings) -> Any:
    """AsyncEngineArgs from the settings; rare vLLM options come through `vllm_args` untouched."""
    from vllm.engine.arg_utils import AsyncEngineArgs

    if engine.kv_cache_gib is not None:
        # vLLM's CPU backend sizes its KV cache from this variable only.
        os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", str(engine.kv_cache_gib))
    kwargs: dict[str, Any] = {
        "model": engine.model,
        "served_model_name": [engine.served_name()],
        "tensor_parallel_size": engine.tensor_parallel_size,
        "gpu_memory_utilization": engine.gpu_memory_utilization,
        "enable_prefix_caching": engine.enable_prefix_caching,
        "max_model_len": engine.max_model_len,
        "speculative_config": engine.speculative_config,
        "disable_log_stats": False,  # keeps vLLM's Prometheus metrics (vllm:*) for /metrics
        # Our constraints are xgrammar structural tags (constraint.py); vLLM's fallback to another
        # backend on a schema xgrammar refuses would answer with that backend's unrelated complaint.
        "structured_outputs_config": {"backend": "xgrammar"},
    }
    kwargs.update(engine.vllm_args)
    return AsyncEngineArgs(**kwargs)


def read_template(args: Any, engine: EngineSettings) -> TemplateProfile:
    """What the weights' chat template says; with --output-layout given, an unknown template is the
    operator's call, read as that layout."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(args.tokenizer or args.model, revision=args.tokenizer_revision)
    forced = engine.output_layout
    try:
        found = profile(tokenizer, weights.architecture(Path(args.model)))
    except UnknownTemplate:
        if forced == "auto":
            raise
        return TemplateProfile(forced, "optional", images=False)
    return found if forced == "auto" else replace(found, layout=forced)


# -- load, warm up, ready ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Engine:
    """A loaded engine and what serving with it needs."""

    llm: AsyncLLM
    tokenizer: Any
    template: TemplateProfile
    renderer: PromptRenderer
    images: ImageLoader | None  # a vision model's image fetcher
    stop_ids: tuple[int, ...]
    vocab: int  # the model's vocabulary size (token ids at or past it are refused)
    token_bytes: int  # UTF-8 length of the longest vocabulary entry
    max_len: int  # the context length the engine runs with
    # The weights' generation_config sampling values, applied where a request sets none (as vLLM's own
    # server does): GLM's publish temperature 1.0 and top_p 0.95, not vLLM's neutral 1.0 and 1.0.
    sampling_defaults: Mapping[str, float]


def load(checked: Checked) -> Engine:
    """Load the engine (blocking: call it on a worker thread), warm it up, and report it ready."""
    from vllm.v1.engine.async_llm import AsyncLLM

    engine = checked.engine
    began = time.monotonic()
    template = checked.profile or read_template(checked.args, engine)
    lifeline.arm()
    gpus = detect_gpus()
    if gpus is None:
        sharing.give_way(engine.cpu_session_nice)
    log.info(
        "loading %s on %s (requests get 503 and Retry-After until it is ready)", engine.model, gpus or "CPU"
    )
    if not Path(str(engine.model)).is_dir():
        # Online, vLLM fetches what the hub's cache lacks, with a progress bar per file (offline, the
        # preflight refused a model not in the cache).
        log.info("%s: files not in the hub's cache are downloaded first (--offline refuses)", engine.model)
    llm = AsyncLLM.from_engine_args(checked.args)
    tokenizer = llm.get_tokenizer()
    # The model decides whether images go in (a V model's vision tower), the template where.
    vision = bool(llm.model_config.is_multimodal_model)
    renderer = PromptRenderer(tokenizer, engine.enable_thinking, images=vision)  # type: ignore[arg-type]
    vocab = tokenizer.get_vocab()
    loaded = Engine(
        llm=llm,
        tokenizer=tokenizer,
        template=template,
        renderer=renderer,
        images=ImageLoader(
            max_bytes=engine.image_max_mib * 2**20,
            timeout=engine.image_fetch_timeout,
            offline=engine.offline_mode,
        )
        if vision
        else None,
        stop_ids=tuple(vocab[t] for t in STOP_TOKENS if t in vocab),
        vocab=int(llm.model_config.get_vocab_size()),
        # At least any token's decoded length in bytes: what a characters-only length check divides by.
        token_bytes=max(len(t.encode()) for t in vocab),
        max_len=llm.model_config.max_model_len,
        sampling_defaults=llm.model_config.get_diff_sampling_param(),
    )
    if blocks := llm.vllm_config.cache_config.num_gpu_blocks:
        tokens = blocks * llm.vllm_config.cache_config.block_size
        log.info(
            "KV cache: %s tokens, %s sessions at the full context of %s",
            f"{tokens:,}",
            f"{tokens // loaded.max_len:,}",
            f"{loaded.max_len:,}",
        )
    warm_up(loaded)
    log.info(
        "ready in %.0f s: %s, %s, context %d",
        time.monotonic() - began,
        engine.model,
        template.describe(),
        loaded.max_len,
    )
    return loaded


def warm_up(engine: Engine) -> None:
    """Render and tokenize one prompt: the template's compilation and the tokenizer's first call happen
    now, not in the first client's time to first token."""
    probe = ChatRequest(model="warm-up", messages=(Message("user", "hi"),))
    engine.renderer.render(probe)


# -- stop ---------------------------------------------------------------------------------------------


async def stop(engine: Engine) -> None:
    """Shut the engine down. Every stream has ended by now (the drain); its processes exit."""
    # vLLM stops its output handler only after the engine core has gone, by which time the handler has
    # seen the core die and logged an EngineDeadError traceback. Nothing waits on the handler: stop it
    # first.
    handler = getattr(engine.llm, "output_handler", None)
    if handler is not None:
        handler.cancel()
    # vLLM's teardown on exit takes ~5 s on CPU (workers ~3 s, then the engine core collects its whole
    # heap): past 4 s it kills the engine core, whose requests are aborted by then and whose workers have
    # exited, so that the server exits within its grace period + 5 s.
    await asyncio.to_thread(engine.llm.shutdown, timeout=ENGINE_SHUTDOWN_SECONDS)


def collect() -> None:
    """After the last reference to a stopped engine is dropped: AsyncLLM.__del__ would shut it down
    again at interpreter exit, which fails there."""
    gc.collect()
