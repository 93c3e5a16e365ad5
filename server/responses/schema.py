"""Pydantic models of the Responses requests we accept (fields and ranges only, no logic)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, JsonValue, Tag, TypeAdapter

from ..http.fields import Seed


class _Wire(BaseModel):
    # Clients send fields we do not use (client_metadata, phase, annotations, …): ignore them.
    model_config = ConfigDict(extra="ignore", strict=True)


# -- content parts ---------------------------------------------------------------------------------


# Item type → the union member that takes it (OtherItem takes every other type).
_ITEM_TAGS: dict[str, str] = {
    "message": "message",
    "reasoning": "reasoning",
    "function_call": "function_call",
    "custom_tool_call": "custom_tool_call",
    "function_call_output": "output",
    "custom_tool_call_output": "output",
    "item_reference": "item_reference",
    "compaction": "compaction",
    "compaction_summary": "compaction",
}


class TextPart(_Wire):
    """input_text (user, system), output_text (assistant history), and summary/reasoning text."""

    type: Literal["input_text", "output_text", "text", "summary_text", "reasoning_text"]
    text: str = ""


class RefusalPart(_Wire):
    type: Literal["refusal"]
    refusal: str = ""


class ImagePart(_Wire):
    type: Literal["input_image"]
    image_url: str | None = None
    file_id: str | None = None
    detail: str | None = None


class FilePart(_Wire):
    type: Literal["input_file"]


Part = Annotated[TextPart | RefusalPart | ImagePart | FilePart, Field(discriminator="type")]


# -- input items -------------------------------------------------------------------------------------


class MessageItem(_Wire):
    """A message; `type` may be left out (the "easy" input message)."""

    type: Literal["message"] = "message"
    role: Literal["user", "assistant", "system", "developer"]
    content: str | list[Part] = ""
    id: str | None = None
    status: str | None = None


class ReasoningItem(_Wire):
    type: Literal["reasoning"]
    id: str | None = None
    summary: list[TextPart] = Field(default_factory=list)
    content: list[TextPart] | None = None
    encrypted_content: str | None = None
    status: str | None = None


class FunctionCallItem(_Wire):
    type: Literal["function_call"]
    call_id: str
    name: str
    arguments: str = ""
    namespace: str | None = None  # a namespaced tool's (Codex's MCP tools)
    id: str | None = None
    status: str | None = None


class CustomToolCallItem(_Wire):
    type: Literal["custom_tool_call"]
    call_id: str
    name: str
    input: str = ""
    id: str | None = None
    status: str | None = None


class ToolOutputItem(_Wire):
    """function_call_output and custom_tool_call_output: what a tool returned, text or content parts."""

    type: Literal["function_call_output", "custom_tool_call_output"]
    call_id: str
    output: str | list[Part] = ""
    id: str | None = None
    status: str | None = None


class CompactionItem(_Wire):
    """What /v1/responses/compact returns in place of the conversation it summarised (Codex once called
    it compaction_summary)."""

    type: Literal["compaction", "compaction_summary"]
    encrypted_content: str
    id: str | None = None


class ItemReference(_Wire):
    type: Literal["item_reference"]
    id: str


class OtherItem(_Wire):
    """An item this server neither produces nor needs (web_search_call, local_shell_call, …)."""

    model_config = ConfigDict(extra="allow")
    # Any type but those the other items take: in the OpenAPI document the items are a oneOf, which an
    # item matching two branches would fail (a custom_tool_call is an OtherItem too, as far as `str` goes).
    type: str = Field(json_schema_extra={"not": {"enum": list[JsonValue](sorted(_ITEM_TAGS))}})


def _item_tag(value: Any) -> str:
    kind = value.get("type", "message") if isinstance(value, dict) else getattr(value, "type", "message")
    return _ITEM_TAGS.get(kind, "other") if isinstance(kind, str) else "other"


Item = Annotated[
    Annotated[MessageItem, Tag("message")]
    | Annotated[ReasoningItem, Tag("reasoning")]
    | Annotated[FunctionCallItem, Tag("function_call")]
    | Annotated[CustomToolCallItem, Tag("custom_tool_call")]
    | Annotated[ToolOutputItem, Tag("output")]
    | Annotated[ItemReference, Tag("item_reference")]
    | Annotated[CompactionItem, Tag("compaction")]
    | Annotated[OtherItem, Tag("other")],
    Discriminator(_item_tag),
]


# -- tools and controls ----------------------------------------------------------------------------


class Tool(_Wire):
    """Any tool: `function` and `custom` are served, the rest (web_search, mcp, namespace…) left out."""

    model_config = ConfigDict(extra="allow")
    type: str
    name: str | None = None
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None
    format: dict[str, Any] | None = None  # a custom tool's input format (text, or a grammar)


class AllowedTool(_Wire):
    type: str
    name: str | None = None


class ToolChoice(_Wire):
    """A named tool ({"type": "function"|"custom", "name"}), allowed_tools, or a built-in tool type."""

    type: str
    name: str | None = None
    mode: Literal["auto", "required"] | None = None
    tools: list[AllowedTool] | None = None


class Reasoning(_Wire):
    effort: Literal["none", "minimal", "low", "medium", "high", "xhigh", "max"] | None = None
    summary: Literal["auto", "concise", "detailed"] | None = None


class TextFormat(_Wire):
    type: Literal["text", "json_object", "json_schema"] = "text"
    name: str | None = None
    schema_: dict[str, Any] | None = Field(None, alias="schema")
    strict: bool | None = None
    description: str | None = None


class Text(_Wire):
    format: TextFormat | None = None
    verbosity: str | None = None


class ResponsesRequest(_Wire):
    model: str
    input: str | list[Item] = ""
    instructions: str | None = None
    tools: list[Tool] | None = None
    tool_choice: Literal["auto", "none", "required"] | ToolChoice | None = None
    parallel_tool_calls: bool = True
    reasoning: Reasoning | None = None
    text: Text | None = None
    max_output_tokens: int | None = Field(None, ge=1)
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, gt=0, le=1)
    presence_penalty: float | None = Field(None, ge=-2, le=2)
    frequency_penalty: float | None = Field(None, ge=-2, le=2)
    top_logprobs: int | None = Field(None, ge=0, le=20)
    max_tool_calls: int | None = Field(None, ge=1)
    safety_identifier: str | None = Field(None, max_length=64)
    stream: bool = False
    store: bool = True
    previous_response_id: str | None = None
    include: list[str] | None = None
    metadata: dict[str, str] | None = None
    user: str | None = None
    prompt_cache_key: str | None = None
    truncation: Literal["auto", "disabled"] | None = None
    service_tier: str | None = None
    background: bool | None = None
    # Not OpenAI's: vLLM's sampling extras, accepted as on the chat route.
    seed: Seed | None = None
    top_k: int | None = Field(None, ge=-1)
    min_p: float | None = Field(None, ge=0, le=1)
    repetition_penalty: float | None = Field(None, gt=0)
    min_tokens: int | None = Field(None, ge=0)
    ignore_eos: bool = False


class CompactRequest(_Wire):
    """POST /v1/responses/compact: the conversation to compact, as a response request would carry it."""

    model: str
    input: str | list[Item] = ""
    instructions: str | None = None
    previous_response_id: str | None = None
    prompt_cache_key: str | None = None


item_adapter: TypeAdapter[Item] = TypeAdapter(Item)
