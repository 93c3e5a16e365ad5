"""LocalBackend: vLLM's AsyncLLM in-process; prompts from the weights' template; output through the parser."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

from parsers import GlmParser, TextDelta, ToolCallEnd

from ...core.backend import Health
from ...core.errors import BackendUnavailable, ContextTooLong, InvalidRequest, ServerError
from ...core.events import MessageEnd, MessageStart, StreamEvent, Usage, finish_reason
from ...core.releases.thinking import fit
from ...core.request import ChatRequest, CompletionRequest
from ...core.stops import AnswerStops
from ...settings import EngineSettings
from . import lifeline, start
from .constraint import structural_tag
from .prompt import Prompt
from .sampling import logprobs_delta, sampling_params, sampling_used
from .start import Engine

# Seconds a client is asked to wait while the model loads: short, since a load ends at no known moment.
LOADING_RETRY_AFTER = 5.0

log = logging.getLogger("glm_serve.local")


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
    """Serves one set of GLM weights with an embedded vLLM engine (start.py brings it up and down)."""

    name = "local"

    def __init__(self, settings: EngineSettings) -> None:
        """`settings` as start.resolve left them. Checks what can be checked before loading (ValueError
        naming the problem otherwise)."""
        self._settings = settings
        self._checked = start.check(settings)
        self._engine: Engine | None = None
        self._pool = ThreadPoolExecutor(settings.render_workers, thread_name_prefix="glm-render")
        self._load_error: BaseException | None = None

    async def start(self) -> None:
        # The load blocks for its whole length; a worker thread keeps the server answering meanwhile.
        try:
            self._engine = await lifeline.start_unheard(lambda: start.load(self._checked))
        except Exception as exc:
            self._load_error = exc
            log.exception("the engine failed to start")
            raise

    @property
    def engine_args(self) -> Any:
        """The AsyncEngineArgs the engine is (or will be) built from."""
        return self._checked.args

    @property
    def engine(self) -> Engine | None:
        """The loaded engine (None while loading or after shutdown)."""
        return self._engine

    def model_ids(self) -> list[str]:
        return [self._settings.served_name()]

    def serves(self, model: str) -> bool:
        return model in self.model_ids()

    def batch_size(self) -> int | None:
        engine = self._engine
        return None if engine is None else int(engine.llm.vllm_config.scheduler_config.max_num_seqs)

    def context_length(self) -> int | None:
        return self._engine.max_len if self._engine is not None else self._settings.max_model_len

    async def health(self) -> Health:
        engine = self._engine
        if self._load_error is not None:
            return Health(False, f"engine failed to start: {self._load_error}", self.name)
        if engine is None:
            return Health(False, "loading the model", self.name, loading=True)
        if engine.llm.errored:
            return Health(False, "the inference engine has stopped", self.name)
        return Health(True, f"serving {self._settings.model}", self.name)

    async def aclose(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        engine, self._engine = self._engine, None
        if engine is not None:
            await start.stop(engine)
            del engine
            start.collect()
        elif self._load_error is None:
            # Stopped while loading: no engine to shut down in order, only its processes to end.
            await asyncio.to_thread(lifeline.end_children)

    async def tokenize(self, req: ChatRequest | CompletionRequest) -> list[int]:
        engine = self._ready()
        if isinstance(req, CompletionRequest):
            return await self._completion_ids(engine, req)
        return (await self._prompt(engine, req)).token_ids

    async def count_tokens(self, req: ChatRequest | CompletionRequest) -> int:
        return len(await self.tokenize(req))

    def stream(self, req: ChatRequest | CompletionRequest) -> AsyncIterator[StreamEvent]:
        return self._stream(req)

    # -- internals ----------------------------------------------------------------------------

    def _ready(self) -> Engine:
        if self._engine is None:
            raise BackendUnavailable(
                "the model is still loading; try again shortly", retry_after=LOADING_RETRY_AFTER
            )
        if self._engine.llm.errored:
            raise BackendUnavailable("the inference engine has stopped; restart the server")
        return self._engine

    async def _prompt(self, engine: Engine, req: ChatRequest) -> Prompt:
        """The rendered, tokenized prompt (of the request as fitted()). The work runs on the render pool: a
        huge prompt occupies one worker thread (the tokenizer leaves the GIL), never the event loop."""
        _fits_at_all(engine, sum(map(len, _texts(req))))
        req, _ = _fitted(engine, req)
        return await asyncio.get_running_loop().run_in_executor(self._pool, engine.renderer.render, req)

    async def _completion_ids(self, engine: Engine, req: CompletionRequest) -> list[int]:
        if isinstance(req.prompt, tuple):
            ids = list(req.prompt)
            # vLLM would take these and fail inside the stream, after a 200 had gone out.
            if bad := next((i for i in ids if not 0 <= i < engine.vocab), None):
                raise InvalidRequest(
                    f"prompt token id {bad} is outside the vocabulary (0 to {engine.vocab - 1})",
                    param="prompt",
                )
            return ids
        _fits_at_all(engine, len(req.prompt))
        encode = functools.partial(engine.tokenizer.encode, req.prompt, add_special_tokens=False)
        return list(await asyncio.get_running_loop().run_in_executor(self._pool, encode))

    async def _stream(self, req: ChatRequest | CompletionRequest) -> AsyncIterator[StreamEvent]:
        from vllm.inputs import tokens_input

        engine = self._ready()
        layout = engine.template.layout
        parser: GlmParser | None = None
        constraint: dict[str, Any] | None = None
        pictures: list[Any] = []
        if isinstance(req, ChatRequest):
            prompt = await self._prompt(engine, req)
            ids = prompt.token_ids
            if prompt.images:
                assert engine.images is not None  # the renderer takes images only for a vision model
                pictures = await engine.images.load(prompt.images)
            tools = [t.as_openai() for t in req.tools] if req.parses_tools else None
            parser = GlmParser(layout, tools, prompt.starts_in_reasoning)
            constraint = structural_tag(req, layout, prompt.reasoning, self._settings.strict_tools)
        else:
            ids = await self._completion_ids(engine, req)
        # A chat request's stop strings apply to its answer alone (core/stops.py), not in the engine.
        stops = AnswerStops(req.sampling.stop if parser is not None else ())
        engine_sampling = replace(req.sampling, stop=()) if parser is not None else req.sampling
        with engine_errors():
            params = sampling_params(
                engine_sampling,
                len(ids),
                engine.max_len,
                list(engine.stop_ids),
                constraint,
                engine.sampling_defaults,
            )
        request_id = f"{'chatcmpl' if parser else 'cmpl'}-{uuid.uuid4().hex}"
        used = sampling_used(req.sampling, engine.sampling_defaults)
        note = _fitted(engine, req)[1] if isinstance(req, ChatRequest) else None
        yield MessageStart(request_id, req.model, len(ids), self.name, used, note)

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
            outputs = engine.llm.generate(source, params, request_id)
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
                            for event in stops.through(parser.feed(choice.text)):
                                called = called or isinstance(event, ToolCallEnd)
                                yield event
                    if choice.logprobs:
                        yield logprobs_delta(
                            choice.token_ids, choice.logprobs, req.sampling.top_logprobs, engine.tokenizer
                        )
                    if stops.hit is not None:  # leaving the loop aborts the engine request
                        engine_reason, stop_reason = "stop", stops.hit
                        break
                    if choice.finish_reason is not None:
                        engine_reason, stop_reason = choice.finish_reason, choice.stop_reason
        if parser is not None and stops.hit is None:
            for event in stops.through(parser.finish(engine_reason or "stop")):
                called = called or isinstance(event, ToolCallEnd)
                yield event
            for event in stops.flush():
                yield event
            if stops.hit is not None:  # in the text the parser held until the end
                engine_reason, stop_reason = "stop", stops.hit
        usage = Usage(len(ids), completion_tokens, cached, reasoning_tokens)
        stop_sequence = stop_reason if isinstance(stop_reason, str) else None
        yield MessageEnd(finish_reason(engine_reason, called), usage, stop_sequence)


def _fitted(engine: Engine, req: ChatRequest) -> tuple[ChatRequest, str | None]:
    """The request with its thinking as the weights' template can do it, and a note when that changed."""
    profile = engine.template
    thinking, note = fit(req.thinking, profile.thinking, profile.efforts)
    return (req if note is None else replace(req, thinking=thinking)), note


def _fits_at_all(engine: Engine, chars: int) -> None:
    """Refuse, without tokenizing, a prompt whose length in characters already rules it out: no token
    covers more than `token_bytes` bytes, nor a character fewer than one."""
    least = chars // engine.token_bytes
    if engine.max_len and least > engine.max_len:
        raise ContextTooLong(
            f"This model's maximum context length is {engine.max_len} tokens. However, your messages "
            f"are {chars} characters, which is at least {least} tokens. Please reduce the length of "
            "the messages.",
            param="messages",
        )


def _texts(req: ChatRequest) -> Iterator[str]:
    """The request's message text (what its prompt is at least as long as)."""
    for m in req.messages:
        if isinstance(m.content, str):
            yield m.content
        else:
            yield from (p for p in m.content if isinstance(p, str))
        if m.reasoning:
            yield m.reasoning
