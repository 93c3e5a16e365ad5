"""Parse raw GLM model output (reasoning, text, XML tool calls) into typed streaming events."""

from .events import ParserEvent, ReasoningDelta, TextDelta, ToolArgsDelta, ToolCallEnd, ToolCallStart
from .glm import GlmParser, parse
from .message import MessageBuilder, ParsedMessage, ToolCall, said_twice
from .tags import LAYOUT_NAMES, LayoutName, render_tool_call

__all__ = [
    "LAYOUT_NAMES",
    "GlmParser",
    "LayoutName",
    "MessageBuilder",
    "ParsedMessage",
    "ParserEvent",
    "ReasoningDelta",
    "TextDelta",
    "ToolArgsDelta",
    "ToolCall",
    "ToolCallEnd",
    "ToolCallStart",
    "parse",
    "render_tool_call",
    "said_twice",
]
