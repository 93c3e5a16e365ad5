"""GLM's tag vocabulary and the two output layouts (glm45, glm47), as data."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"
CALL_OPEN = "<tool_call>"
CALL_CLOSE = "</tool_call>"
KEY_OPEN = "<arg_key>"
KEY_CLOSE = "</arg_key>"
VALUE_OPEN = "<arg_value>"
VALUE_CLOSE = "</arg_value>"
# GLM-4.xV wrap their final answer in a box; the markers are layout for their trainers, not text.
BOX_OPEN = "<|begin_of_box|>"
BOX_CLOSE = "<|end_of_box|>"
BOX_TAGS = frozenset({BOX_OPEN, BOX_CLOSE})

# Role markers end a turn. The engine stops on the EOS ids, but they leak into text when a server is
# configured with only one of the three EOS tokens (llama.cpp PR#14939, zai-org/GLM-4#398).
STOP_TAGS = frozenset({"<|user|>", "<|observation|>", "<|endoftext|>", "<|assistant|>", "<|system|>"})

TAGS = (
    frozenset({THINK_OPEN, THINK_CLOSE, CALL_OPEN, CALL_CLOSE, KEY_OPEN, KEY_CLOSE, VALUE_OPEN, VALUE_CLOSE})
    | STOP_TAGS
    | BOX_TAGS
)

# Every proper prefix of every tag ("<", "</", "</arg_v", …): text ending in one of these is held back.
TAG_PREFIXES = frozenset(tag[:i] for tag in TAGS for i in range(1, len(tag)))
MAX_TAG_LEN = max(len(tag) for tag in TAGS)

LayoutName = Literal["glm45", "glm47"]
LAYOUT_NAMES: tuple[LayoutName, ...] = ("glm45", "glm47")


@dataclass(frozen=True, slots=True)
class Layout:
    """Where one output layout puts whitespace around its tags (the parser tolerates either)."""

    after_name: str
    between_key_and_value: str
    after_value: str
    between_calls: str
    after_think: str


LAYOUTS: Mapping[LayoutName, Layout] = {
    # GLM-4.5 / 4.5-Air / 4.6: one tag per line; the model writes "\n<think>" itself.
    "glm45": Layout(
        after_name="\n", between_key_and_value="\n", after_value="\n", between_calls="\n", after_think="\n"
    ),
    # GLM-4.7 / 4.7-Flash / 5 / 5.1: no whitespace at all; the prompt already opened <think>.
    "glm47": Layout(
        after_name="", between_key_and_value="", after_value="", between_calls="", after_think=""
    ),
}


def layout_of(name: str) -> Layout:
    """The layout called `name`, or ValueError naming the valid ones."""
    try:
        return LAYOUTS[name]  # type: ignore[index]
    except KeyError:
        raise ValueError(f"unknown GLM output layout {name!r}; expected one of {LAYOUT_NAMES}") from None


def render_tool_call(name: str, arguments: Mapping[str, Any], layout: LayoutName) -> str:
    """The text a GLM model of `layout` writes for one call: strings raw, everything else as JSON."""
    lay = layout_of(layout)
    parts = [CALL_OPEN, name, lay.after_name]
    for key, value in arguments.items():
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        parts += [
            KEY_OPEN,
            key,
            KEY_CLOSE,
            lay.between_key_and_value,
            VALUE_OPEN,
            text,
            VALUE_CLOSE,
            lay.after_value,
        ]
    parts.append(CALL_CLOSE)
    return "".join(parts)
