"""UpstreamBackend: any OpenAI-compatible server (LM Studio, Ollama, llama.cpp, vLLM) whose GLM output
arrives as raw text; that text goes through our parser, so clients get real tool calls and reasoning."""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

from parsers import GlmParser, LayoutName, ReasoningDelta, ToolCallEnd

from ...core import releases
from ...core.backend import Health
from ...core.errors import BackendUnavailable, InvalidRequest, UpstreamError
from ...core.events import MessageEnd, MessageStart, StreamEvent, Usage, finish_reason
from ...core.releases.thinking import fit_for
from ...core.request import ChatRequest, CompletionRequest
from ...core.stops import AnswerStops
from ...settings import EngineSettings, RemoteSettings
from .chat_client import ChatClient, HttpFailure, StreamFailure
from .hosted_api import estimate_tokens, wire_messages
from .http_session import TransportFailure

log = logging.getLogger("glm_serve.upstream")


def request_body(req: ChatRequest, model: str) -> dict[str, Any]:
    """OpenAI-compatible servers take OpenAI's knobs as they are, but not their constraints."""
    if req.forces_call or req.response_format is not None:
        # Its raw text is parsed here, so its own tool_choice and JSON modes would constrain the wrong
        # thing (a JSON grammar over GLM's XML calls and reasoning).
        raise InvalidRequest(
            "the upstream backend cannot enforce tool_choice 'required'/named or a JSON response_format; "
            "serve the weights locally for these",
            param="response_format" if req.response_format is not None else "tool_choice",
        )
    s = req.sampling
    body: dict[str, Any] = {
        "model": model,
        "messages": wire_messages(req.messages),
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    for name in ("max_tokens", "temperature", "top_p", "seed", "presence_penalty", "frequency_penalty"):
        if (value := getattr(s, name)) is not None:
            body[name] = value
    # No stop strings: the upstream would cut inside the reasoning; _stream applies them to the answer.
    if req.parses_tools:
        # The upstream renders the tools into GLM's prompt; it must not parse them itself, or its
        # own (often broken) parser would answer instead of ours.
        body["tools"] = [t.as_openai() for t in req.tools]
    kwargs: dict[str, Any] = {}
    if req.thinking.enabled is not None:
        kwargs["enable_thinking"] = req.thinking.enabled
    if req.thinking.effort is not None:
        kwargs["reasoning_effort"] = req.thinking.effort
    if kwargs:
        body["chat_template_kwargs"] = kwargs
    return body


class UpstreamBackend:
    """Raw GLM text from an OpenAI-compatible upstream, parsed here."""

    name = "upstream"

    def __init__(self, remote: RemoteSettings, model: EngineSettings) -> None:
        """`remote` says where the upstream is; `model`, what this server calls the model and how its
        output reads (served name, layout, thinking by default, context length)."""
        if not remote.upstream_url:
            raise ValueError("--backend upstream needs --upstream-url")
        self._remote = remote
        self._settings = model
        self._client = ChatClient(
            remote.upstream_url, os.environ.get("UPSTREAM_API_KEY"), remote.hosted_timeout
        )
        self._upstream_models: list[str] = []
        self._tokenizes = True  # until the upstream shows it has no /tokenize

    async def start(self) -> None:
        """Learn the upstream's models, so that clients can ask for them by their own names."""
        try:
            self._upstream_models = await self._client.models()
        except (HttpFailure, TransportFailure) as exc:
            log.warning("the upstream's model list is unavailable (%s); serving %s", exc, self.model_ids())
        else:
            log.info("the upstream serves %s", self._upstream_models)

    def model_ids(self) -> list[str]:
        if self._settings.served_model_name or not self._upstream_models:
            return [self._settings.served_name()]
        return list(self._upstream_models)

    def serves(self, model: str) -> bool:
        # One model upstream (LM Studio, llama.cpp): whatever name the client uses means that model.
        return len(self._upstream_models) == 1 or model in self.model_ids()

    def layout(self, model: str) -> LayoutName:
        """--output-layout, else the layout of the release the upstream model's name names; GLM-4.7's
        (which later releases keep) for a name the release table does not know."""
        if self._settings.output_layout != "auto":
            return self._settings.output_layout
        release = releases.find(model)
        return release.layout if release is not None else "glm47"

    def _upstream_model(self, requested: str) -> str:
        if self._remote.upstream_model:
            return self._remote.upstream_model
        models = self._upstream_models
        if requested in models or not models:
            return requested
        return models[0]  # one model upstream, or a name of ours it does not list

    def batch_size(self) -> int | None:
        return None

    def context_length(self) -> int | None:
        return self._settings.max_model_len

    async def tokenize(self, req: ChatRequest | CompletionRequest) -> list[int]:
        raise InvalidRequest("the upstream backend has no local tokenizer; token ids are not available")

    async def count_tokens(self, req: ChatRequest | CompletionRequest) -> int:
        return estimate_tokens(req)

    async def health(self) -> Health:
        return Health(True, f"forwarding to {self._remote.upstream_url}", self.name)

    async def aclose(self) -> None:
        await self._client.aclose()

    def stream(self, req: ChatRequest | CompletionRequest) -> AsyncIterator[StreamEvent]:
        return self._stream(req)

    async def _stream(self, req: ChatRequest | CompletionRequest) -> AsyncIterator[StreamEvent]:
        if isinstance(req, CompletionRequest):
            raise InvalidRequest("the upstream backend serves chat completions only")
        # Thinking as the model can do it (GLM-5.3 cannot turn it off), before anything reads it.
        model = self._upstream_model(req.model)
        release = releases.find(model)
        policy = release.thinking if release is not None else "opened"
        fitted, note = fit_for(req.thinking, release)
        req = replace(req, thinking=fitted)
        thinking = (
            req.thinking.enabled if req.thinking.enabled is not None else self._settings.enable_thinking
        )
        tools = [t.as_openai() for t in req.tools] if req.parses_tools else None
        # Made at the first content: a server that sends reasoning separately has already split the
        # thinking off, so its content starts after it; otherwise GLM-4.7+ output starts inside it.
        parser: GlmParser | None = None
        split_upstream = False
        layout = self.layout(model)
        try:
            chunks = await self._client.open(request_body(req, model))
        except HttpFailure as failure:
            message = str((failure.body.get("error") or {}).get("message", "")) if failure.body else ""
            raise UpstreamError(
                f"upstream answered HTTP {failure.status}: {message}"[:500],
                status=502 if failure.status >= 500 else failure.status,
            ) from failure
        except TransportFailure as exc:
            raise BackendUnavailable(f"the upstream is unreachable ({exc})") from exc
        start = MessageStart(f"chatcmpl-{uuid.uuid4().hex}", req.model, 0, self.name, thinking_note=note)
        started = False  # until the first chunk, so that a stream that fails at once is an error status
        called = False
        engine_reason: str | None = None
        usage: dict[str, Any] = {}
        stops = AnswerStops(req.sampling.stop)
        thought: list[str] = []  # the reasoning, counted in the model's tokens at the end
        pieces = 0  # content chunks: about a token each, the count when a stop string ends it early
        try:
            async for chunk in chunks:
                if not started:
                    started = True
                    yield start
                for choice in chunk.get("choices") or ():
                    delta = choice.get("delta") or {}
                    events: list[StreamEvent] = []
                    # A server that already split reasoning off passes it through as is.
                    if reasoning := delta.get("reasoning_content") or delta.get("reasoning"):
                        split_upstream = True
                        events.append(ReasoningDelta(reasoning))
                    if content := delta.get("content"):
                        pieces += 1
                        if parser is None:
                            # As for local weights (Prompt.starts_in_reasoning): with thinking on,
                            # output is reasoning until </think> where the prompt opened <think>; a
                            # GLM-4.5/4.6 model opens it itself, or answers at once.
                            opened = thinking and not split_upstream and policy != "optional"
                            parser = GlmParser(layout, tools, starts_in_reasoning=opened)
                        events += parser.feed(content)
                    for event in stops.through(events):
                        called = called or isinstance(event, ToolCallEnd)
                        if isinstance(event, ReasoningDelta):
                            thought.append(event.text)
                        yield event
                    engine_reason = choice.get("finish_reason") or engine_reason
                usage = chunk.get("usage") or usage
                if stops.hit is not None:
                    break  # closing the stream (below) stops the upstream's generation
        except StreamFailure as failure:
            raise UpstreamError(f"the upstream stream broke: {failure.reason}") from failure
        finally:
            await chunks.aclose()
        if not started:
            yield start
        if stops.hit is None:
            ended = parser.finish("length" if engine_reason == "length" else "stop") if parser else []
            for event in stops.through(ended):
                called = called or isinstance(event, ToolCallEnd)
                if isinstance(event, ReasoningDelta):
                    thought.append(event.text)
                yield event
            for event in stops.flush():
                yield event
        if stops.hit is not None:
            engine_reason = "stop"
            usage = usage or {"completion_tokens": pieces}
        reasoning_tokens = await self._count("".join(thought), model)
        yield MessageEnd(
            finish_reason(engine_reason, called),
            Usage(
                int(usage.get("prompt_tokens", 0)),
                int(usage.get("completion_tokens", 0)),
                reasoning_tokens=reasoning_tokens,
            ),
            stops.hit,
        )

    async def _count(self, text: str, model: str) -> int | None:
        """`text` in the served model's tokens, by the upstream's own /tokenize (vLLM's and SGLang's take
        `prompt`, llama.cpp's `content`); None where it has none: the count is then left out."""
        if not text:
            return 0
        if not self._tokenizes:
            return None
        body = {"model": model, "prompt": text, "content": text, "add_special_tokens": False}
        try:
            # At the server's root, beside /v1 (the URL's ".." is resolved before it is sent).
            answer = await self._client.call("/../tokenize", body)
            count = answer.get("count")
            return int(count) if count is not None else len(answer["tokens"])
        except TransportFailure:
            return None  # this time; it may answer the next
        except (HttpFailure, KeyError, TypeError, ValueError) as exc:
            self._tokenizes = False
            log.info("the upstream cannot tokenize (%s): reasoning tokens go uncounted", exc)
            return None
