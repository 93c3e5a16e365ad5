"""Release: one GLM release as data (names, weights, architecture, output layout, thinking, vision)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from parsers import LayoutName

from ..request import SamplingValues

# How a release's chat template handles thinking:
#   "optional": enable_thinking switches it; with it on, the model opens <think> itself, or not (GLM-4.5/4.6)
#   "opened":   enable_thinking switches it; with it on, the prompt ends in an open <think> (GLM-4.7 to 5.2)
#   "always":   no switch: the prompt always opens <think>; reasoning_effort sets how long (GLM-5.3)
ThinkingPolicy = Literal["optional", "opened", "always"]
# The hosted API's usual defaults (a row names its own where they differ).
HOSTED_SAMPLING = SamplingValues(temperature=1.0, top_p=0.95)


@dataclass(frozen=True, slots=True)
class Weights:
    """One published checkpoint of a release: its hub repo and the size of its tensors."""

    repo: str
    gb: float  # safetensors total, 10^9 bytes
    note: str = ""  # e.g. "community AWQ 4-bit": not zai-org's own


@dataclass(frozen=True, slots=True)
class Release:
    """A row of the release table. Every consumer (parser layout, template detection, the hosted catalogue,
    sizing, the tiny models, preset checks) reads these fields instead of keeping its own list."""

    name: str  # as zai-org writes it: "GLM-4.7"
    architecture: str | None  # config.json's architectures[0]; None for a hosted-only model
    layout: LayoutName  # where its output puts whitespace around tags (parsers.LAYOUTS)
    thinking: ThinkingPolicy
    hosted: tuple[str, ...] = ()  # the hosted API's model ids for it, the main one first
    weights: tuple[Weights, ...] = ()
    config: Mapping[str, Any] = field(default_factory=dict)  # published config.json keys sizing reads
    efforts: tuple[str, ...] = ()  # reasoning_effort levels its template reads
    vision: bool = False  # takes images
    box: bool = False  # wraps its final answer in <|begin_of_box|>…<|end_of_box|>
    tiny_template: str | None = None  # the tiny test model's chat template (assets/) in its prompt layout
    # The hosted API's defaults for its models where a request sets none (its documentation, 2026).
    hosted_sampling: SamplingValues = HOSTED_SAMPLING

    @property
    def open_weights(self) -> bool:
        return bool(self.weights)
