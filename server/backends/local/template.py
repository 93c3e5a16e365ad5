"""TemplateProfile: what a GLM chat template says about its model's output, read once at start."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from parsers import Generation

# A template that renders GLM's prompt and GLM's XML tool calls has all of these.
_GLM_MARKERS = ("[gMASK]<sop>", "<tool_call>", "<arg_key>", "<arg_value>")
_IMAGE_MARKERS = ("<|image|>", "<|begin_of_image|>")

# "switch": enable_thinking turns thinking on and off (GLM-4.5 to 5.2). "always": GLM-5.3's template has
# no switch, thinks on every turn and takes reasoning_effort (low, high, max) instead.
Thinking = Literal["switch", "always"]


class UnknownTemplate(ValueError):
    """The weights' chat template is not one whose output glm-serve knows how to parse."""


@dataclass(frozen=True, slots=True)
class TemplateProfile:
    generation: Generation
    thinking: Thinking
    images: bool  # the template places image parts (the V models, GLM-5.3-Flash)

    def describe(self) -> str:
        extra = ", thinking always on" if self.thinking == "always" else ""
        return f"layout {self.generation}{extra}{', images' if self.images else ''}"


def read_profile(template: str, generation_prompt: str) -> TemplateProfile:
    """The profile of `template`, given what it renders for one user turn with thinking on.

    GLM-4.7 and later open <think> in the generation prompt (layout glm47: no whitespace between tags);
    GLM-4.5/4.6 leave it to the model (glm45). Anything without GLM's prompt and tool-call tags raises
    UnknownTemplate naming what it lacks and how the prompt it renders ends.
    """
    missing = [m for m in _GLM_MARKERS if m not in template]
    if missing:
        tail = generation_prompt[-60:]
        shape = (
            "tool calls as <tool_call> with JSON arguments (GLM-4-0414 and GLM-4.1V write those; "
            "glm-serve parses GLM-4.5 and later)"
            if "<tool_call>" in template and "<arg_key>" not in template
            else f"no {', '.join(missing)}"
        )
        raise UnknownTemplate(
            f"the chat template is not a GLM-4.5+ template glm-serve can parse: it has {shape}; "
            f"its generation prompt ends {tail!r}. Serve GLM weights with their own chat template, "
            "or pass --generation glm45|glm47 to choose the output layout yourself."
        )
    generation: Generation = "glm47" if generation_prompt.rstrip().endswith("<think>") else "glm45"
    always = "Reasoning Effort:" in template and "enable_thinking" not in template
    return TemplateProfile(
        generation=generation,
        thinking="always" if always else "switch",
        images=any(m in template for m in _IMAGE_MARKERS),
    )
