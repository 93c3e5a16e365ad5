"""FreeformInput: a custom tool's raw input, streamed out of the JSON arguments GLM's call was parsed into.

GLM calls a custom (freeform) tool as a function with one string argument, and the parser streams that
call's arguments as JSON: `{"input": "*** Begin Patch\\n…"}` in pieces. A custom_tool_call item wants the
raw text instead, as it arrives; this decodes the string value incrementally, holding back an escape
sequence (or a surrogate pair) that is cut in two.
"""

from __future__ import annotations

import json
import re

_OPENING = re.compile(r'\s*\{\s*"((?:[^"\\]|\\.)*)"\s*:\s*"')


class FreeformInput:
    """Feed the JSON fragments of one call; get the newly decoded text of its first string value."""

    def __init__(self) -> None:
        self._json: list[str] = []
        self._raw = ""  # the string value's JSON text not decoded yet
        self._started = False
        self._ended = False

    def feed(self, fragment: str) -> str:
        self._json.append(fragment)
        if self._ended:
            return ""
        if not self._started:
            match = _OPENING.match("".join(self._json))
            if match is None:
                return ""
            self._started = True
            fragment = "".join(self._json)[match.end() :]
        self._raw += fragment
        return self._decode()

    def _decode(self) -> str:
        raw, out, i = self._raw, [], 0
        while i < len(raw):
            char = raw[i]
            if char == '"':
                self._ended = True
                break
            if char != "\\":
                j = i
                while j < len(raw) and raw[j] not in '"\\':
                    j += 1
                out.append(raw[i:j])
                i = j
                continue
            size = 6 if raw[i + 1 : i + 2] == "u" else 2
            if raw[i + 1 : i + 2] == "u" and 0xD800 <= _hex(raw[i + 2 : i + 6]) < 0xDC00:
                size = 12  # a high surrogate decodes only with its low half
            if i + size > len(raw):
                break  # the rest of this escape is still to come
            out.append(json.loads('"' + raw[i : i + size] + '"'))
            i += size
        self._raw = raw[i:]
        return "".join(out)

    def value(self) -> str:
        """The tool's whole input: its one string argument, else the arguments' JSON as text."""
        text = "".join(self._json)
        try:
            args = json.loads(text)
        except ValueError:
            return text
        if isinstance(args, dict) and len(args) == 1:
            (only,) = args.values()
            if isinstance(only, str):
                return only
        return text


def _hex(digits: str) -> int:
    try:
        return int(digits, 16) if len(digits) == 4 else -1
    except ValueError:
        return -1
