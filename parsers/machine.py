"""The GLM output state machine: scanner tokens (text and tags) in, parser events out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import Enum, auto
from typing import Any

from .arguments import index_tools
from .call import Call
from .events import ParserEvent, ReasoningDelta, TextDelta, ToolArgsDelta, ToolCallEnd, ToolCallStart
from .prose import Prose
from .tags import (
    BOX_TAGS,
    CALL_CLOSE,
    CALL_OPEN,
    KEY_CLOSE,
    KEY_OPEN,
    STOP_TAGS,
    THINK_CLOSE,
    THINK_OPEN,
    VALUE_CLOSE,
    VALUE_OPEN,
)

_NAME_ENDS = frozenset({CALL_CLOSE, KEY_OPEN, CALL_OPEN, VALUE_OPEN, VALUE_CLOSE})


class State(Enum):
    CONTENT = auto()
    REASONING = auto()
    NAME = auto()  # after <tool_call>, collecting the function name
    KEY = auto()  # inside <arg_key>
    AWAIT_VALUE = auto()  # after </arg_key>, before <arg_value>
    VALUE = auto()  # inside <arg_value>: only </arg_value> ends it
    BETWEEN = auto()  # after </arg_value>, before the next <arg_key> or </tool_call>
    SKIP = auto()  # inside a call that has no usable name: ignored up to </tool_call>
    DONE = auto()  # a stop marker was seen; everything after it is ignored


class Machine:
    """Drives GLM text through REASONING, CONTENT and the tool-call states.

    Policies (each a known failure elsewhere; see the corpus in tests/parsers/):
    - a `<tool_call>` inside reasoning ends the reasoning; a stray `</think>` in content is dropped;
    - inside a value only `</arg_value>` ends it, so values may hold any tag-like text;
    - a name is sent once, whole, when the tag after it arrives; a call with no name is skipped;
    - a missing `<arg_value>` or `<arg_key>` opening tag is recovered; so is a name fused with its
      first key when a declared tool name is a prefix of it;
    - a call cut off by the end of generation gets no ToolCallEnd: it is not a call.
    """

    def __init__(self, tools: Sequence[Mapping[str, Any]] | None, starts_in_reasoning: bool) -> None:
        self.events: list[ParserEvent] = []
        self.state = State.REASONING if starts_in_reasoning else State.CONTENT
        self._tools_on = tools is not None
        self._schemas = index_tools(tools)
        self._content = Prose(TextDelta, "")
        self._reasoning = Prose(ReasoningDelta, "\n\n")
        # The think block the prompt opened, while it is still open: if generation stops normally
        # without closing it, the model answered without thinking (sglang#37645).
        self._forced: list[str] | None = [] if starts_in_reasoning else None
        self._call: Call | None = None
        self._next_index = 0
        # Where a call returns to: a call made from inside reasoning (no </think> yet) returns there,
        # so "…<tool_call>…</tool_call>more thought</think>answer" splits as the model meant.
        self._after_call = State.CONTENT

    def take(self) -> list[ParserEvent]:
        out, self.events = self.events, []
        return out

    # -- scanner sink -------------------------------------------------------------------------

    def on_text(self, text: str) -> None:
        state = self.state
        if state is State.CONTENT:
            self._content.write(text, self.events)
        elif state is State.REASONING:
            emitted = self._reasoning.write(text, self.events)
            if self._forced is not None and emitted:
                self._forced.append(emitted)
        elif state is State.VALUE:
            self._value_text(text)
        elif state is State.NAME or state is State.KEY:
            self._parts().append(text)
        elif state is State.AWAIT_VALUE:
            if text.strip():  # the model dropped <arg_value> (vllm#49248): this text is the value
                self._start_value()
                self._value_text(text.lstrip())
        elif state is State.BETWEEN:
            if text.strip():  # the model dropped <arg_key>: this text starts the next key
                self._parts_reset([text.lstrip()])
                self.state = State.KEY

    def on_tag(self, tag: str) -> None:
        state = self.state
        if state is State.DONE:
            return
        if tag in STOP_TAGS:
            self.end(normal=True)
            return
        if state is State.CONTENT:
            self._on_content_tag(tag)
        elif state is State.REASONING:
            self._on_reasoning_tag(tag)
        elif state is State.VALUE:
            if tag == VALUE_CLOSE:
                self._end_value()
                self.state = State.BETWEEN
            else:
                self._value_text(tag)
        elif state is State.SKIP:
            if tag == CALL_CLOSE:
                self._call = None
                self.state = self._after_call
            elif tag == CALL_OPEN:
                self._open_call()
        else:
            self._on_call_tag(state, tag)

    # -- prose --------------------------------------------------------------------------------

    def _on_content_tag(self, tag: str) -> None:
        if tag in BOX_TAGS:
            pass  # GLM-4.xV's answer box: the markers go, the answer stays
        elif tag == THINK_OPEN:
            self.state = State.REASONING
        elif tag == THINK_CLOSE:
            pass  # stray close (a second one, or one the prompt already wrote)
        elif tag == CALL_OPEN and self._tools_on:
            self._open_call(return_to=State.CONTENT)
        else:
            self._content.write(tag, self.events)

    def _on_reasoning_tag(self, tag: str) -> None:
        if tag == THINK_CLOSE:
            self._end_reasoning()
            self.state = State.CONTENT
        elif tag == THINK_OPEN or tag in BOX_TAGS:
            pass
        elif tag == CALL_OPEN and self._tools_on:
            self._end_reasoning()  # GLM may call a tool straight from its reasoning (sglang PR#17714)
            self._open_call(return_to=State.REASONING)
        else:
            self.on_text(tag)

    def _end_reasoning(self) -> None:
        self._reasoning.end_block()
        self._forced = None

    # -- tool calls ---------------------------------------------------------------------------

    def _open_call(self, return_to: State | None = None) -> None:
        """Start a call; `return_to` is where its </tool_call> leads (kept for back-to-back calls)."""
        if return_to is not None:
            self._after_call = return_to
        self._call = Call()
        self.state = State.NAME

    def _parts(self) -> list[str]:
        assert self._call is not None
        return self._call.name_parts

    def _parts_reset(self, parts: list[str]) -> None:
        assert self._call is not None
        self._call.name_parts = parts

    def _on_call_tag(self, state: State, tag: str) -> None:
        call = self._call
        assert call is not None
        if state is State.NAME:
            if tag == KEY_CLOSE:
                self._name_fused_with_key()
                return
            if tag not in _NAME_ENDS:
                return  # <think> or </think> inside a call: meaningless, ignored
            if not self._start_call():
                self.state = State.SKIP
                if tag == CALL_CLOSE:
                    self.on_tag(tag)
                return
            if tag == CALL_CLOSE:
                self._close_call()
            elif tag in (KEY_OPEN, CALL_OPEN):  # a second <tool_call> where <arg_key> belongs
                self._parts_reset([])
                self.state = State.KEY
            elif tag == VALUE_OPEN:
                self._start_value()  # a value with no key: read and dropped
            elif tag == VALUE_CLOSE:
                self.state = State.BETWEEN  # stray </arg_value> after a name (tool_12</arg_value>)
            return
        if state is State.KEY and tag in (KEY_CLOSE, VALUE_OPEN):
            call.key = "".join(call.name_parts).strip() or None
            call.name_parts = []
            if tag == VALUE_OPEN:
                self._start_value()
            else:
                self.state = State.AWAIT_VALUE
        elif tag == VALUE_OPEN:
            if state is State.BETWEEN:
                call.key = None
            self._start_value()
        elif tag == KEY_OPEN:
            self._parts_reset([])
            self.state = State.KEY
        elif tag == CALL_CLOSE:
            self._close_call()
        elif tag == CALL_OPEN:
            self._close_call()  # the model forgot </tool_call> before its next call
            self._open_call()
        elif tag == VALUE_CLOSE and state is State.AWAIT_VALUE:
            self._start_value()  # "</arg_key></arg_value>": an empty value whose opening was dropped
            self._end_value()
            self.state = State.BETWEEN

    def _start_call(self, name: str | None = None) -> bool:
        """Send ToolCallStart for the collected name; False when there is no usable name."""
        call = self._call
        assert call is not None
        if name is None:
            words = "".join(call.name_parts).split(None, 1)
            call.name_parts = words[1:]  # anything after the name (JSON the model wrote instead of XML)
            name = words[0] if words else ""
        if not name:
            return False
        call.name = name
        call.schema = self._schemas.get(name)
        call.index = self._next_index
        self._next_index += 1
        self.events.append(ToolCallStart(call.index, name))
        return True

    def _name_fused_with_key(self) -> None:
        """`<tool_call>NAMEkey</arg_key>`: the model dropped <arg_key> (vllm PR#47190)."""
        call = self._call
        assert call is not None
        text = "".join(call.name_parts).strip()
        call.name_parts = []
        name, key = text, None
        words = text.split(None, 1)
        if len(words) == 2:
            name, key = words
        else:
            candidates = [t for t in self._schemas.values() if text.startswith(t.name) and text != t.name]
            candidates.sort(key=lambda t: (text[len(t.name) :] in t.properties, len(t.name)), reverse=True)
            if candidates:
                name, key = candidates[0].name, text[len(candidates[0].name) :]
        if not self._start_call(name):
            self.state = State.SKIP
            return
        call.key = key.strip() if key else None
        self.state = State.AWAIT_VALUE

    def _start_value(self) -> None:
        assert self._call is not None
        self._call.start_value()
        self.state = State.VALUE

    def _value_text(self, text: str) -> None:
        assert self._call is not None
        fragment = self._call.value_text(text)
        if fragment is not None:
            self.events.append(ToolArgsDelta(self._call.index, fragment))

    def _end_value(self) -> None:
        assert self._call is not None
        fragment = self._call.end_value()
        if fragment is not None:
            self.events.append(ToolArgsDelta(self._call.index, fragment))

    def _close_call(self) -> None:
        call = self._call
        assert call is not None
        self.events.append(ToolArgsDelta(call.index, call.closing()))
        self.events.append(ToolCallEnd(call.index))
        self._call = None
        self.state = self._after_call

    # -- end of generation --------------------------------------------------------------------

    def end(self, normal: bool) -> None:
        """Generation ended (a stop marker, or the engine's finish). `normal` is False for length/abort."""
        state = self.state
        if state is State.DONE:
            return
        if state is State.REASONING and normal and self._forced:
            # The prompt opened <think> and the model answered without ever closing it: the text is
            # the answer. It was already streamed as reasoning, so it is sent once more as content.
            self._content.write("".join(self._forced), self.events)
        elif normal and state is State.NAME:
            self._finish_bare_call()
        elif normal and state is State.BETWEEN:
            self._finish_call_missing_close()
        self.state = State.DONE

    def _finish_bare_call(self) -> None:
        call = self._call
        assert call is not None
        words = "".join(call.name_parts).split()
        schema = self._schemas.get(words[0]) if len(words) == 1 else None
        if schema is not None and not schema.required and self._start_call():
            self._close_call()

    def _finish_call_missing_close(self) -> None:
        """Only </tool_call> is missing: finish the call if it is declared and has its required args."""
        call = self._call
        assert call is not None
        if call.schema is not None and call.schema.required <= set(call.keys):
            self._close_call()
