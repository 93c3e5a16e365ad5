"""FakeBackend: scripted raw GLM text run through the real parser, for protocol tests and demos."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

from parsers import GlmParser, LayoutName, TextDelta, ToolCallEnd
from parsers.tags import CALL_OPEN, TAGS, THINK_CLOSE, render_tool_call

from ..core.backend import Health
from ..core.errors import ContextTooLong
from ..core.events import MessageEnd, MessageStart, StreamEvent, Usage, finish_reason
from ..core.request import NEUTRAL_SAMPLING, ChatRequest, CompletionRequest, NamedTool
from ..core.stops import AnswerStops
from .local.prompt import template_messages

Script = Callable[[ChatRequest | CompletionRequest], str]
DEMO_REPLY = (
    "The user said hello; a short friendly answer fits.</think>Hello! This is glm-serve's fake backend."
)
_PIECES = re.compile("|".join(re.escape(t) for t in sorted(TAGS, key=len, reverse=True)) + r"|[\s\S]{1,4}")


def pieces_of(text: str) -> list[str]:
    """Token-like pieces: GLM tags whole (as an engine emits them), other text four characters at a time."""
    return _PIECES.findall(text)


class FakeBackend:
    """Replays a script as if a GLM-4.7 model wrote it; every piece counts as one token.

    The script is a string, or a function of the request returning one. Its text starts inside the
    reasoning when the request thinks (GLM-4.7's prompt opens <think>). `delay` spaces the pieces out
    so that tests can disconnect mid-stream; `opened`/`closed` count streams for those tests, and
    `requests` keeps every request it was given.
    """

    name = "fake"

    def __init__(
        self,
        script: str | Script = DEMO_REPLY,
        *,
        model: str = "glm-fake",
        layout: LayoutName = "glm47",
        delay: float = 0.0,
        context_length: int = 8192,
        default_thinking: bool = True,
        name: str = "fake",
        vision: bool = False,
        batch: int | None = None,
    ) -> None:
        self.name = name
        self._batch = batch  # an engine's batch size to play, for admission tests
        self._vision = vision  # takes images, as a V model does; else refuses them as a text model
        self._script = script if callable(script) else (lambda _req: script)
        self._model = model
        self._layout = layout
        self._delay = delay
        self._context = context_length
        self._default_thinking = default_thinking
        self.opened = 0
        self.closed = 0
        # The latest requests, for tests to look at (a bounded window: a long-running demo keeps none).
        self.requests: deque[ChatRequest | CompletionRequest] = deque(maxlen=64)

    async def start(self) -> None:
        return None

    def model_ids(self) -> list[str]:
        return [self._model]

    def serves(self, model: str) -> bool:
        return model in self.model_ids()

    def batch_size(self) -> int | None:
        return self._batch

    def context_length(self) -> int | None:
        return self._context

    async def tokenize(self, req: ChatRequest | CompletionRequest) -> list[int]:
        if isinstance(req, CompletionRequest):
            return list(req.prompt) if isinstance(req.prompt, tuple) else list(req.prompt.encode())
        return list(repr(template_messages(req.messages, self._vision)).encode())

    async def count_tokens(self, req: ChatRequest | CompletionRequest) -> int:
        return len(await self.tokenize(req))

    async def health(self) -> Health:
        return Health(ready=True, detail="scripted replies", backend=self.name)

    async def aclose(self) -> None:
        return None

    def stream(self, req: ChatRequest | CompletionRequest) -> AsyncIterator[StreamEvent]:
        return self._stream(req)

    def _thinks(self, req: ChatRequest) -> bool:
        return req.thinking.enabled if req.thinking.enabled is not None else self._default_thinking

    async def _stream(self, req: ChatRequest | CompletionRequest) -> AsyncIterator[StreamEvent]:
        self.requests.append(req)
        prompt_tokens = len(await self.tokenize(req))
        if prompt_tokens >= self._context:
            raise ContextTooLong(f"prompt is {prompt_tokens} tokens; the context is {self._context}")
        script = self._script(req)
        if isinstance(req, ChatRequest) and req.forces_call and CALL_OPEN not in script:
            script = forced_call(req, self._layout, self._thinks(req))
        elif isinstance(req, ChatRequest) and req.response_format is not None and not req.parses_tools:
            script = json_answer(script, req.response_format.schema, self._thinks(req))
        chat = isinstance(req, ChatRequest)
        # A completion's stop strings cut the raw text, as an engine does; a chat answer's apply to the
        # answer alone (core/stops.py), as every backend applies them.
        raw, stop_sequence = (script, None) if chat else _apply_stops(script, req.sampling.stop)
        stops = AnswerStops(req.sampling.stop if chat else ())
        pieces = pieces_of(raw)
        engine_reason = "stop"
        limit = req.sampling.max_tokens
        if limit is not None and len(pieces) > limit:
            pieces, engine_reason, stop_sequence = pieces[:limit], "length", None
        self.opened += 1
        try:
            used = NEUTRAL_SAMPLING.under(req.sampling)  # it samples nothing: the knobs as given
            yield MessageStart(f"chatcmpl-{uuid.uuid4().hex}", req.model, prompt_tokens, self.name, used)
            parser: GlmParser | None = None
            if isinstance(req, ChatRequest):
                tools: list[dict[str, Any]] | None = (
                    [t.as_openai() for t in req.tools] if req.parses_tools else None
                )
                # GLM-4.5/4.6 (layout glm45) open <think> themselves; GLM-4.7+'s prompt opens it.
                opened = self._thinks(req) and self._layout != "glm45"
                parser = GlmParser(self._layout, tools, starts_in_reasoning=opened)
            called = False
            reasoning_tokens = generated = 0
            for piece in pieces:
                if self._delay:
                    await asyncio.sleep(self._delay)
                generated += 1
                if parser is not None and parser.in_reasoning:
                    reasoning_tokens += 1
                events: list[StreamEvent] = list(parser.feed(piece)) if parser else [TextDelta(piece)]
                for event in stops.through(events):
                    called = called or isinstance(event, ToolCallEnd)
                    yield event
                if stops.hit is not None:
                    break
            if parser is not None and stops.hit is None:
                for event in stops.through(parser.finish(engine_reason)):
                    called = called or isinstance(event, ToolCallEnd)
                    yield event
                for event in stops.flush():
                    yield event
            if stops.hit is not None:
                engine_reason, stop_sequence = "stop", stops.hit
            usage = Usage(prompt_tokens, generated, reasoning_tokens=reasoning_tokens)
            yield MessageEnd(finish_reason(engine_reason, called), usage, stop_sequence)
        finally:
            self.closed += 1


def forced_call(req: ChatRequest, layout: LayoutName, thinking: bool) -> str:
    """What an engine enforcing tool_choice makes the model write: a call to the named tool (or the
    first), with each required argument a placeholder of its declared type."""
    choice = req.tool_choice
    tool = next(t for t in req.tools if not isinstance(choice, NamedTool) or t.name == choice.name)
    properties = tool.parameters.get("properties") or {}
    args = {name: _placeholder(properties.get(name) or {}) for name in tool.parameters.get("required") or ()}
    opening = f"A call to {tool.name} is required.{THINK_CLOSE}" if thinking else ""
    return opening + render_tool_call(tool.name, args, layout)


def json_answer(script: str, schema: Mapping[str, Any] | None, thinking: bool) -> str:
    """What an engine enforcing a JSON answer makes the model write: the script's answer where it is
    JSON already, else an instance of the schema (any object for json_object)."""
    reasoning, closed, answer = script.partition(THINK_CLOSE)
    text = answer if closed else script
    try:
        json.loads(text)
        return script
    except ValueError:
        pass
    instance = _placeholder(schema) if schema else {}
    opening = (reasoning if closed else "An answer in JSON.") + THINK_CLOSE if thinking else ""
    return opening + json.dumps(instance)


_PLACEHOLDERS: dict[str, Any] = {"string": "example", "number": 1, "integer": 1, "boolean": True}


def _placeholder(prop: Mapping[str, Any]) -> Any:
    """A value of the property's type (its first enum value where it lists some)."""
    if enum := prop.get("enum"):
        return enum[0]
    kind = prop.get("type")
    if kind == "array":
        return []
    if kind == "object":  # its required members, each a placeholder of its own
        properties = prop.get("properties") or {}
        return {name: _placeholder(properties.get(name) or {}) for name in prop.get("required") or ()}
    if kind in ("integer", "number") and "minimum" in prop:
        return prop["minimum"]
    return _PLACEHOLDERS.get(kind, "example") if isinstance(kind, str) else "example"


def _apply_stops(text: str, stops: tuple[str, ...]) -> tuple[str, str | None]:
    """Cut at the earliest stop string, as an engine does; returns the text and the stop that matched."""
    hits = [(i, s) for s in stops if (i := text.find(s)) >= 0]
    if not hits:
        return text, None
    index, stop = min(hits)
    return text[:index], stop
