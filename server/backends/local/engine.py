"""LocalBackend: vLLM's AsyncLLM in-process; prompts from the weights' template; output through the parser."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from parsers import Generation, GlmParser, TextDelta, ToolCallEnd

from ...core.backend import Health
from ...core.errors import BackendUnavailable, ContextTooLong, InvalidRequest, ServerError
from ...core.events import (
    LogprobsDelta,
    MessageEnd,
    MessageStart,
    StreamEvent,
    TokenLogprob,
    TopLogprob,
    Usage,
    finish_reason,
)
from ...core.request import ChatRequest, CompletionRequest, Sampling
from ...settings import Settings
from . import weights
from .constraint import structural_tag
from .images import ImageLoader
from .prompt import PromptRenderer, profile
from .template import TemplateProfile, UnknownTemplate

if TYPE_CHECKING:
    from vllm import SamplingParams
    from vllm.v1.engine.async_llm import AsyncLLM

log = logging.getLogger("glm_serve.local")

# GLM ends a turn with any of these; all three must stop generation (zai-org/GLM-4#398).
STOP_TOKENS = ("<|endoftext|>", "<|user|>", "<|observation|>")


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
        raise InvalidRequest(f"{exc}{cause}") from exc


class LocalBackend:
    """Serves one set of GLM weights with an embedded vLLM engine."""

    name = "local"

    def __init__(self, settings: Settings) -> None:
        """Checks what can be checked before loading: the weights directory holds every file the engine
        will need, and vLLM takes the engine arguments (ValueError naming the problem otherwise)."""
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
        self._generation: Generation = "glm47"
        self._stop_ids: list[int] = []
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
        self._generation = template.generation
        vocab = tokenizer.get_vocab()
        self._stop_ids = [vocab[t] for t in STOP_TOKENS if t in vocab]
        self._max_len = engine.model_config.max_model_len
        self._tokenizer = tokenizer
        self._engine = engine
        log.info("engine ready: %s, %s, context %d", self._settings.model, template.describe(), self._max_len)

    def _read_profile(self) -> TemplateProfile:
        """What the weights' chat template says; with --generation given, an unknown template is the
        operator's call, read as that layout."""
        from transformers import AutoTokenizer

        source = self._args.tokenizer or self._args.model
        tokenizer = AutoTokenizer.from_pretrained(source, revision=self._args.tokenizer_revision)
        forced = self._settings.generation
        try:
            found = profile(tokenizer)
        except UnknownTemplate:
            if forced == "auto":
                raise
            return TemplateProfile(forced, "switch", images=False)
        return found if forced == "auto" else replace(found, generation=forced)

    def model_ids(self) -> list[str]:
        return [self._settings.served_name()]

    def serves(self, model: str) -> bool:
        return model in self.model_ids()

    def context_length(self) -> int | None:
        return self._max_len or self._settings.max_model_len

    async def health(self) -> Health:
        engine = self._engine
        if self._load_error is not None:
            return Health(False, f"engine failed to start: {self._load_error}", self.name)
        if engine is None:
            return Health(False, "loading the model", self.name)
        if engine.errored:
            return Health(False, "the inference engine has stopped", self.name)
        return Health(True, f"serving {self._settings.model}", self.name)

    def running_requests(self) -> int:
        """Requests the engine is still working on (0 once every stream has ended or been aborted)."""
        return self._engine.get_num_unfinished_requests() if self._engine is not None else 0

    async def aclose(self) -> None:
        engine, self._engine = self._engine, None
        if engine is not None:
            await asyncio.to_thread(engine.shutdown)
            del engine
            # Collect it now: AsyncLLM.__del__ shuts down again, which fails at interpreter exit.
            gc.collect()

    async def tokenize(self, req: ChatRequest | CompletionRequest) -> list[int]:
        self._ready()
        if isinstance(req, CompletionRequest):
            return self._completion_ids(req)
        assert self._renderer is not None
        return self._renderer.render(req).token_ids

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

    def _completion_ids(self, req: CompletionRequest) -> list[int]:
        if isinstance(req.prompt, tuple):
            return list(req.prompt)
        return list(self._tokenizer.encode(req.prompt, add_special_tokens=False))

    async def _stream(self, req: ChatRequest | CompletionRequest) -> AsyncIterator[StreamEvent]:
        from vllm.inputs import tokens_input

        engine = self._ready()
        parser: GlmParser | None = None
        constraint: dict[str, Any] | None = None
        pictures: list[Any] = []
        if isinstance(req, ChatRequest):
            assert self._renderer is not None
            prompt = self._renderer.render(req)
            ids = prompt.token_ids
            if prompt.images:
                assert self._images is not None  # the renderer takes images only for a vision model
                pictures = await self._images.load(prompt.images)
            tools = [t.as_openai() for t in req.tools] if req.parses_tools else None
            parser = GlmParser(self._generation, tools, prompt.starts_in_reasoning)
            constraint = structural_tag(req, self._generation, prompt.reasoning, self._settings.strict_tools)
        else:
            ids = self._completion_ids(req)
        params = self._sampling_params(req.sampling, len(ids), constraint)
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
                        yield _logprobs(
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

    def _sampling_params(
        self, s: Sampling, prompt_len: int, constraint: dict[str, Any] | None
    ) -> SamplingParams:
        from vllm import SamplingParams
        from vllm.sampling_params import RequestOutputKind, StructuredOutputsParams

        room = self._max_len - prompt_len
        if room <= 0 or (s.max_tokens is not None and s.max_tokens > room):
            wanted = prompt_len + (s.max_tokens or 1)
            raise ContextTooLong(
                f"This model's maximum context length is {self._max_len} tokens. However, you requested "
                f"{wanted} tokens ({prompt_len} in the messages, {s.max_tokens or 1} in the completion). "
                "Please reduce the length of the messages or completion.",
                param="messages",
            )
        kwargs: dict[str, Any] = {
            "max_tokens": s.max_tokens if s.max_tokens is not None else room,
            "stop": list(s.stop),
            # ignore_eos means "generate exactly max_tokens" (benchmarks): GLM's turn ends must not stop it.
            "stop_token_ids": [] if s.ignore_eos else self._stop_ids,
            "ignore_eos": s.ignore_eos,
            "seed": s.seed,
            "output_kind": RequestOutputKind.DELTA,
        }
        for name in (
            "temperature",
            "top_p",
            "top_k",
            "min_p",
            "presence_penalty",
            "frequency_penalty",
            "repetition_penalty",
            "min_tokens",
        ):
            value = getattr(s, name)
            if value is not None:
                kwargs[name] = value
        if s.logprobs:
            kwargs["logprobs"] = s.top_logprobs
        if constraint is not None:
            kwargs["structured_outputs"] = StructuredOutputsParams(structural_tag=json.dumps(constraint))
        with engine_errors():
            return SamplingParams(**kwargs)


def _logprobs(token_ids: Any, logprobs: Any, top_n: int, tokenizer: Any) -> LogprobsDelta:
    """vLLM's per-token {id: Logprob} maps as our events: the sampled token, and the top_n by rank.

    vLLM adds the sampled token to the top-n at its own rank, so a map can hold n + 1 entries.
    """
    tokens = []
    for token_id, candidates in zip(token_ids, logprobs, strict=False):
        chosen = candidates.get(token_id)
        text = (
            chosen.decoded_token
            if chosen and chosen.decoded_token is not None
            else tokenizer.decode([token_id])
        )
        ranked = sorted((kv for kv in candidates.items() if kv[1].rank), key=lambda kv: kv[1].rank)
        top = tuple(
            TopLogprob(c.decoded_token if c.decoded_token is not None else tokenizer.decode([i]), c.logprob)
            for i, c in ranked[:top_n]
        )
        tokens.append(TokenLogprob(text, chosen.logprob if chosen else float("-inf"), top))
    return LogprobsDelta(tuple(tokens))
