"""Call: one tool call being parsed — its name, and its arguments as a JSON object streamed in pieces."""

from __future__ import annotations

import json

from .arguments import ToolSchema, Types, ValueEncoder


class Call:
    """The arguments stream as `{"key": value, …}`: a pair opens with its first value fragment."""

    __slots__ = ("_opened", "_pair_open", "_value", "index", "key", "keys", "name", "name_parts", "schema")

    def __init__(self) -> None:
        self.name_parts: list[str] = []  # text collected for the name (or a key), not yet used
        self.name = ""
        self.index = -1
        self.schema: ToolSchema | None = None
        self.key: str | None = None  # the key of the value being read; None: a value that is dropped
        self.keys: list[str] = []  # keys whose values were completed
        self._value: ValueEncoder | None = None
        self._opened = False  # "{" has been sent (with the first argument)
        self._pair_open = False  # the current pair's `"key": ` has been sent

    def start_value(self) -> None:
        types: Types = None
        if self.schema is not None and self.key is not None:
            types = self.schema.properties.get(self.key)
        self._value = ValueEncoder(types)
        self._pair_open = False

    def value_text(self, text: str) -> str | None:
        """The argument fragment that `text` of the value makes sendable, if any."""
        assert self._value is not None
        fragment = self._value.feed(text)
        return self._pair(fragment) if fragment else None

    def end_value(self) -> str | None:
        """The value's last fragment (None when the value has no key and is dropped)."""
        assert self._value is not None
        fragment = self._pair(self._value.close())
        if self.key is not None:
            self.keys.append(self.key)
        self._value = None
        return fragment

    def closing(self) -> str:
        """What ends the arguments: "}", or all of them when the model wrote JSON instead of XML."""
        if self._opened:
            return "}"
        return self._arguments_written_as_json() or "{}"

    def _pair(self, fragment: str) -> str | None:
        if self.key is None:
            return None  # a value with no key cannot be placed in the object
        if not self._pair_open:
            opener = ", " if self._opened else "{"
            fragment = opener + json.dumps(self.key, ensure_ascii=False) + ": " + fragment
            self._pair_open = self._opened = True
        return fragment

    def _arguments_written_as_json(self) -> str | None:
        """`<tool_call>name {"a": 1}</tool_call>`: the model wrote JSON arguments instead of XML."""
        rest = "".join(self.name_parts).strip()
        if not rest.startswith("{"):
            return None
        try:
            value = json.loads(rest)
        except ValueError:
            return None
        return json.dumps(value, ensure_ascii=False) if isinstance(value, dict) else None
