"""LocalBackend: vLLM's AsyncLLM in-process; prompts from the weights' template; output through the parser."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import logging
import os
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from parsers import GlmParser, LayoutName, TextDelta, ToolCallEnd

from ...core.backend import Health
from ...core.errors import BackendUnavailable, ContextTooLong, InvalidRequest, ServerError
from ...core.events import (
    MessageEnd,
    MessageStart,
    StreamEvent,
    Usage,
    finish_reason,
)
from ...core.request import ChatRequest, CompletionRequest
from ...settings import Settings
from . import weights
from .constraint import structural_tag
from .images import ImageLoader
from .prompt import Prompt, PromptRenderer, profile
from .sampling import logprobs_delta, sampling_params
from .sizing.fit import plan
from .sizing.gpus import Gpus, detect_gpus
from .sizing.source import UnknownSize, sized
from .template import TemplateProfile, UnknownTemplate

if TYPE_CHECKING:
    from vllm.v1.engine.async_llm import AsyncLLM

log = logging.getLogger("glm_serve.local")

ENGINE_SHUTDOWN_SECONDS = 4.0
# GLM ends a turn with any of these; all three must stop generation (zai-org/GLM-4#398).
STOP_TOKENS = ("<|endoftext|>", "<|user|>", "<|observation|>")


def size_for_this_box(settings: Settings, gpus: Gpus | None = None) -> Settings:
    """On CUDA GPUs (or `gpus`): refuse a model that cannot fit at all, with the plan's reason, before
    vLLM allocates anything; without --max-model-len, take the largest context the plan fits (capped by
    the model's own). Elsewhere (CPU) the settings are left as they are."""
    gpus = gpus or detect_gpus()
    if gpus is None:
        return settings
    try:
        model = sized(settings)
    except UnknownSize as exc:
        log.info("no plan for this model (%s); vLLM will size its cache itself", exc)
        return settings
    fit = plan(model.shape, model.weight_bytes, model.layout, gpus)
    if not fit.fits:
        raise ValueError(f"{settings.model} does not fit on {gpus}: {fit.reason} (see `glm-serve plan`)")
    if settings.max_model_len is None:
        log.info(
            "max_model_len %d: the largest context that fits on %s (%d such sessions at once; "
            "--max-model-len to choose another)",
            fit.context,
            gpus,
            fit.sessions,
        )
        return settings.model_copy(update={"max_model_len": fit.context})
    if fit.note:
        log.warning("%s on %s by the plan: %s", settings.model, gpus, fit.note)
    return settings


def engine_args(settings: Settings) -> Any:
    """AsyncEngineArgs from the settings; rare vLLM options come through `vllm_args` untouched."""
    from vllm.engine.arg_utils import AsyncEngineArgs

    if settings.kv_cache_gib is not None:
        # vLLM's CPU backend sizes its KV cache from this variable only.
        os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", str(settings.kv_cache_gib))
    kwargs: dict[str, Any] = {
        "model": settings.model,
        "served_model_name": [settings.served_name()],
        "tensor_parallel_size": settings.tensor_parallel_size,
        "gpu_memory_utilization": settings.gpu_memory_utilization,
        "enable_prefix_caching": settings.enable_prefix_caching,
        "max_model_len": settings.max_model_len,
        "speculative_config": settings.speculative_config,
        "disable_log_stats": False,  # keeps vLLM's Prometheus metrics (vllm:*) for /metrics
        # Our constraints are xgrammar structural tags (constraint.py); vLLM's fallback to another
        # backend on a schema xgrammar refuses would answer with that backend's unrelated complaint.
        "structured_outputs_config": {"backend": "xgrammar"},
    }
    kwargs.update(settings.vllm_args)
    return AsyncEngineArgs(**kwargs)


@contextlib.contextmanager
def engine_errors() -> Iterator[None]:
    """Translate vLLM's exceptions into ours (never by reading their text)."""
    from vllm.exceptions import VLLMClientError
    from vllm.v1.engine.exceptions import EngineDeadError, EngineGenerateError

    try:
        yield
    except EngineDeadError as exc:
        raise BackendUnavailable("the inference engine has stopped; restart the server") from exc
    except EngineGenerateError as exc:
        raise ServerError("generation failed inside the engine") from exc
    except (ValueError, VLLMClientError) as exc:  # vLLM's verdicts on the request's own parameters
        # A schema the grammar compiler refuses arrives as a generic message; its cause says why.
        cause = f": {exc.__cause__}" if exc.__cause__ is not None else ""
        log.info("vLLM refused a request: %s%s", exc, cause)
        raise InvalidRequest(_SOURCE_PATHS.sub("", f"{exc}{cause}")) from exc


# xgrammar's messages start with its C++ source location ("[10:02:03] /project/cpp/x.cc:120: "): the
# client gets the message, the log keeps the location.
_SOURCE_PATHS = re.compile(r"(?:\[[\d:]+\] *)?(?:/[\w.+-]+)+\.(?:cc|cpp|cu|cuh|h|hpp|py):\d+:? *")


class LocalBackend:
    """Serves one set of GLM weights with an embedded vLLM engine."""

    name = "local"

    def __init__(self, settings: Settings) -> None:
        """Checks what can be checked before loading: the weights directory holds every file the engine
        will need, and vLLM takes the engine arguments (ValueError naming the problem otherwise)."""
        settings = size_for_this_box(settings)
        if not settings.model:
            raise ValueError("the local backend needs --model (a weights directory or a preset name)")
        if Path(settings.model).is_dir():
            weights.check(Path(settings.model), settings.speculative_config)
        elif settings.offline_mode:
            raise ValueError(
                f"offline, and {settings.model!r} is not a weights directory on this machine: the hub may "
                "not be asked (fetch the weights with `glm-serve download` where there is a network)"
            )
        try:
            self._args = engine_args(settings)
        except Exception as exc:  # unknown vllm_args keys, values vLLM refuses, a model it cannot find
            raise ValueError(f"vLLM refuses these engine arguments: {type(exc).__name__}: {exc}") from exc
        self._settings = settings
        # A template we cannot parse is refused now, not after a load that can take twenty minutes.
        self._profile: TemplateProfile | None = (
            self._read_profile() if Path(self._args.tokenizer or settings.model).is_dir() else None
        )
        self._images: ImageLoader | None = None
        self._engine: AsyncLLM | None = None
        self._renderer: PromptRenderer | None = None
        self._layout: LayoutName = "glm47"
        self._stop_ids: list[int] = []
        self._vocab = 0
        self._token_bytes = 1
        self._pool = ThreadPoolExecutor(settings.render_workers, thread_name_prefix="glm-render")
        self._max_len = 0
        self._tokenizer: Any = None
        self._load_error: BaseException | None = None

    async def start(self) -> None:
        # AsyncLLM's constructor blocks for the whole load; a worker thread keeps the server answering.
        await asyncio.to_thread(self._load)

    def _load(self) -> None:
        from vllm.v1.engine.async_llm import AsyncLLM

        try:
            template = self._profile or self._read_profile()
            engine = AsyncLLM.from_engine_args(self._args)
        except Exception as exc:
            self._load_error = exc
            log.exception("the engine failed to start")
            raise
        tokenizer = engine.get_tokenizer()
        # The model decides whether images go in (a V model's vision tower), the template where.
        vision = bool(engine.model_config.is_multimodal_model)
        self._renderer = PromptRenderer(tokenizer, self._settings.enable_thinking, images=vision)  # type: ignore[arg-type]
        if vision:
            s = self._settings
            self._images = ImageLoader(
                max_bytes=s.image_max_mib * 2**20, timeout=s.image_fetch_timeout, offline=s.offline_mode
            )
        self._layout = template.layout
        vocab = tokenizer.get_vocab()
        self._stop_ids = [vocab[t] for t in STOP_TOKENS if t in vocab]
        self._vocab = int(engine.model_config.get_vocab_size())
        # UTF-8 length of the vocabulary's longest entry: at least its decoded length in bytes.
        self._token_bytes = max(len(t.encode()) for t in vocab)
        self._max_len = engine.model_config.max_model_len
        self._tokenizer = tokenizer
        self._engine = engine
        log.info("engine ready: %s, %s, context %d", self._settings.model, template.describe(), self._max_len)

    def _read_profile(self) -> TemplateProfile:
        """What the weights' chat template says; with --output-layout given, an unknown template is the
        operator's call, read as that layout."""
        from transformers import AutoTokenizer

        source = self._args.tokenizer or self._args.model
        tokenizer = AutoTokenizer.from_pretrained(source, revision=self._args.tokenizer_revision)
        forced = self._settings.output_layout
        try:
            found = profile(tokenizer, weights.architecture(Path(self._args.model)))
        except UnknownTemplate:
            if forced == "auto":
                raise
            return TemplateProfile(forced, "optional", images=False)
        return found if forced == "auto" else replace(found, layout=forced)

    def model_ids(self) -> list[str]:
        return [self._settings.served_name()]

    def serves(self, model: str) -> bool:
        return model in self.model_ids()

    def batch_size(self) -> int | None:
        engine = self._engine
        return None if engine is None else int(engine.vllm_config.scheduler_config.max_num_seqs)

    def context_length(self) -> int | None:
        return self._max_len or self._settings.max_model_len

    async def health(self) -> Health:
        engine = self._engine
        if self._load_error is not None:
            return Health(False, f"engine failed to start: {self._load_error}", self.name)
        if engine is None:
            return Health(False, "loading the model", self.name, loading=True)
        if engine.errored:
            return Health(False, "the inference engine has stopped", self.name)
        return Health(True, f"serving {self._settings.model}", self.name)

    def running_requests(self) -> int:
        """Requests the engine is still working on (0 once every stream has ended or been aborted)."""
        return self._engine.get_num_unfinished_requests() if self._engine is not None else 0

    async def aclose(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        engine, self._engine = self._engine, None
        if engine is not None:
            # vLLM stops its output handler only after the engine core has gone, by which time the
            # handler has seen the core die and logged an EngineDeadError traceback. Every stream has
            # ended by now (the drain), so nothing waits on the handler: stop it first.
            handler = getattr(engine, "output_handler", None)
            if handler is not None:
                handler.cancel()
            # vLLM's teardown on exit takes ~5 s on CPU (workers ~3 s, then the engine core collects its
            # whole heap): past 4 s it kills the engine core, whose requests are aborted by then and
            # whose workers have exited, so that the server exits within its grace period + 5 s.
            await asyncio.to_thread(engine.shutdown, timeout=ENGINE_SHUTDOWN_SECONDS)
            del engine
            # Collect it now: AsyncLLM.__del__ shuts down again, which fails at interpreter exit.
            gc.collect()

    async def tokenize(self, req: ChatRequest | CompletionRequest) -> list[int]:
        self._ready()
        if isinstance(req, CompletionRequest):
            return await self._completion_ids(req)
        return (await self._prompt(req)).token_ids

    async def count_tokens(self, req: ChatRequest | CompletionRequest) -> int:
        return len(await self.tokenize(req))

    def stream(self, req: ChatRequest | CompletionRequest) -> AsyncIterator[StreamEvent]:
        return self._stream(req)

    # -- internals ----------------------------------------------------------------------------

    def _ready(self) -> AsyncLLM:
        if self._engine is None:
            raise BackendUnavailable("the model is still loading; try again shortly")
        if self._engine.errored:
            raise BackendUnavailable("the inference engine has stopped; restart the server")
        return self._engine

    async def _prompt(self, req: ChatRequest) -> Prompt:
        """The rendered, tokenized prompt. The work runs on the render pool: a huge prompt occupies one
        worker thread (the tokenizer leaves the GIL), never the event loop and every stream on it."""
        assert self._renderer is not None
        self._fits_at_all(sum(map(len, _texts(req))))
        return await asyncio.get_running_loop().run_in_executor(self._pool, self._renderer.render, req)

    async def _completion_ids(self, req: CompletionRequest) -> list[int]:
        if isinstance(req.prompt, tuple):
            ids = list(req.prompt)
            # vLLM would take these and fail inside the stream, after a 200 had gone out.
            if bad := next((i for i in ids if not 0 <= i < self._vocab), None):
                raise InvalidRequest(
                    f"prompt token id {bad} is outside the vocabulary (0 to {self._vocab - 1})",
                    param="prompt",
                )
            return ids
        self._fits_at_all(len(req.prompt))
        encode = functools.partial(self._tokenizer.encode, req.prompt, add_special_tokens=False)
        return list(await asyncio.get_running_loop().run_in_executor(self._pool, encode))

    def _fits_at_all(self, chars: int) -> None:
        """Refuse, without tokenizing, a prompt whose length in characters already rules it out: no token
        covers more than `_token_bytes` bytes, nor a character fewer than one."""
        least = chars // self._token_bytes
        if self._max_len and least > self._max_len:
            raise ContextTooLong(
                f"This model's maximum context length is {self._max_len} tokens. However, your messages "
                f"are {chars} characters, which is at least {least} tokens. Please reduce the length of "
                "the messages.",
                param="messages",
            )

    async def _stream(self, req: ChatRequest | CompletionRequest) -> AsyncIterator[StreamEvent]:
        from vllm.inputs import tokens_input

        engine = self._ready()
        parser: GlmParser | None = None
        constraint: dict[str, Any] | None = None
        pictures: list[Any] = []
        if isinstance(req, ChatRequest):
            prompt = await self._prompt(req)
            ids = prompt.token_ids
            if prompt.images:
                assert self._images is not None  # the renderer takes images only for a vision model
                pictures = await self._images.load(prompt.images)
            tools = [t.as_openai() for t in req.tools] if req.parses_tools else None
            parser = GlmParser(self._layout, tools, prompt.starts_in_reasoning)
            constraint = structural_tag(req, self._layout, prompt.reasoning, self._settings.strict_tools)
        else:
            ids = await self._completion_ids(req)
        with engine_errors():
            params = sampling_params(req.sampling, len(ids), self._max_len, self._stop_ids, constraint)
        request_id = f"{'chatcmpl' if parser else 'cmpl'}-{uuid.uuid4().hex}"
        yield MessageStart(request_id, req.model, len(ids), backend=self.name)

        completion_tokens = reasoning_tokens = cached = 0
        engine_reason: str | None = None
        stop_reason: Any = None
        called = False
        with engine_errors():
            # A rendered input: vLLM skips its own (threaded) tokenisation step for it.
            source: Any = tokens_input(ids)
            if pictures:
                # A raw prompt instead: vLLM's multimodal processor runs on it (off the event loop) and
                # expands each image placeholder the template wrote into that image's own tokens.
                source = {"prompt_token_ids": ids, "multi_modal_data": {"image": pictures}}
            outputs = engine.generate(source, params, request_id)
            # aclosing: when our consumer goes away, closing generate() aborts the engine request.
            async with contextlib.aclosing(outputs):
                async for out in outputs:
                    choice = out.outputs[0]
                    n = len(choice.token_ids)
                    completion_tokens += n
                    if parser is not None and parser.in_reasoning:
                        reasoning_tokens += n
                    if out.num_cached_tokens:
                        cached = out.num_cached_tokens
                    if choice.text:
                        if parser is None:
                            yield TextDelta(choice.text)
                        else:
                            for event in parser.feed(choice.text):
                                called = called or isinstance(event, ToolCallEnd)
                                yield event
                    if choice.logprobs:
                        yield logprobs_delta(
                            choice.token_ids, choice.logprobs, req.sampling.top_logprobs, self._tokenizer
                        )
                    if choice.finish_reason is not None:
                        engine_reason, stop_reason = choice.finish_reason, choice.stop_reason
        if parser is not None:
            for event in parser.finish(engine_reason or "stop"):
                called = called or isinstance(event, ToolCallEnd)
                yield event
        usage = Usage(len(ids), completion_tokens, cached, reasoning_tokens)
        stop_sequence = stop_reason if isinstance(stop_reason, str) else None
        yield MessageEnd(finish_reason(engine_reason, called), usage, stop_sequence)


def _texts(req: ChatRequest) -> Iterator[str]:
    """The request's message text (what its prompt is at least as long as)."""
    for m in req.messages:
        if isinstance(m.content, str):
            yield m.content
        else:
            yield from (p for p in m.content if isinstance(p, str))
        if m.reasoning:
            yield m.reasoning
