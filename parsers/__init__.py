"""Parse raw GLM model output (reasoning, text, XML tool calls) into typed streaming events."""

from .events import ParserEvent, ReasoningDelta, TextDelta, ToolArgsDelta, ToolCallEnd, ToolCallStart
from .glm import GlmParser, parse
from .message import MessageBuilder, ParsedMessage, ToolCall
from .tags import GENERATIONS, Generation, render_tool_call

__all__ = [
    "GENERATIONS",
    "Generation",
    "GlmParser",
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
]
