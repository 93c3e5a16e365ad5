"""TemplateProfile: what a GLM chat template says about its model's output, read once at start."""

from __future__ import annotations

from dataclasses import dataclass

from parsers import LayoutName

from ...core import releases
from ...core.releases import ThinkingPolicy

# A template that renders GLM's prompt and GLM's XML tool calls has all of these.
_GLM_MARKERS = ("[gMASK]<sop>", "<tool_call>", "<arg_key>", "<arg_value>")
_IMAGE_MARKERS = ("<|image|>", "<|begin_of_image|>")


class UnknownTemplate(ValueError):
    """The weights' chat template is not one whose output glm-serve knows how to parse."""


@dataclass(frozen=True, slots=True)
class TemplateProfile:
    layout: LayoutName
    thinking: ThinkingPolicy
    images: bool  # the template places image parts (the V models, GLM-5.3-Flash)
    efforts: tuple[str, ...] = ()  # the reasoning_effort levels it reads, where its releases agree

    def describe(self) -> str:
        extra = ", thinking always on" if self.thinking == "always" else f", thinking {self.thinking}"
        return f"layout {self.layout}{extra}{', images' if self.images else ''}"


def read_profile(template: str, generation_prompt: str, architecture: str | None = None) -> TemplateProfile:
    """The profile of `template`, given what it renders for one user turn with thinking on.

    How the template handles thinking picks the release row (and so the output layout): GLM-4.7 and later
    open <think> in the generation prompt, GLM-4.5/4.6 leave it to the model, GLM-5.3 has no switch at all.
    `architecture` (config.json's) narrows the rows where releases of several layouts share a policy.
    Anything without GLM's prompt and tool-call tags raises UnknownTemplate naming what it lacks and how
    the prompt it renders ends.
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
            "or pass --output-layout glm45|glm47 to choose the output layout yourself."
        )
    thinking: ThinkingPolicy = "optional"
    if "Reasoning Effort:" in template and "enable_thinking" not in template:
        thinking = "always"
    elif generation_prompt.rstrip().endswith("<think>"):
        thinking = "opened"
    layout = releases.layout_for(thinking, architecture)
    if layout is None:
        raise UnknownTemplate(
            f"no GLM release in glm-serve's table handles thinking as this template does ({thinking}); "
            "pass --output-layout glm45|glm47 to choose the output layout yourself"
        )
    return TemplateProfile(
        layout,
        thinking,
        images=any(m in template for m in _IMAGE_MARKERS),
        efforts=releases.efforts_for(thinking, architecture),
    )
