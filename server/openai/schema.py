"""Pydantic models of the OpenAI requests we accept (fields and ranges only, no logic)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ..http.fields import OPTIONAL_MODEL, Seed


class _Wire(BaseModel):
    # Clients send fields we do not use (user, store, metadata, …): ignore them.
    model_config = ConfigDict(extra="ignore", strict=True)


class ImageUrl(_Wire):
    url: str


class ContentPart(_Wire):
    type: str
    text: str | None = None
    image_url: ImageUrl | str | None = None


class FunctionCall(_Wire):
    name: str
    arguments: str | dict[str, Any] = ""


class ToolCall(_Wire):
    id: str = ""
    type: Literal["function"] = "function"
    function: FunctionCall


class ChatMessage(_Wire):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[ContentPart] | None = None
    reasoning_content: str | None = None
    reasoning: str | None = None  # vLLM's newer name for the same thing
    tool_calls: list[ToolCall] | None = None
    tool_call_id: str | None = None
    name: str | None = None


class FunctionDef(_Wire):
    name: str = Field(min_length=1)
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class ToolDef(_Wire):
    type: Literal["function"] = "function"
    function: FunctionDef


class NamedFunction(_Wire):
    name: str


class NamedToolChoice(_Wire):
    type: Literal["function"] = "function"
    function: NamedFunction


class StreamOptions(_Wire):
    include_usage: bool = False
    continuous_usage_stats: bool = False


class ThinkingParam(_Wire):
    """The hosted GLM API's thinking switch, accepted here too."""

    type: Literal["enabled", "disabled"] = "enabled"
    clear_thinking: bool | None = None


class ResponseFormat(_Wire):
    type: Literal["text", "json_object", "json_schema"]
    json_schema: dict[str, Any] | None = None


class Sampling(_Wire):
    """Fields shared by chat and text completions (OpenAI's, plus the vLLM extras clients send)."""

    model: str = OPTIONAL_MODEL
    max_tokens: int | None = Field(None, ge=1)
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, gt=0, le=1)
    top_k: int | None = Field(None, ge=-1)
    min_p: float | None = Field(None, ge=0, le=1)
    seed: Seed | None = None
    stop: str | list[str] | None = None
    presence_penalty: float | None = Field(None, ge=-2, le=2)
    frequency_penalty: float | None = Field(None, ge=-2, le=2)
    repetition_penalty: float | None = Field(None, gt=0)
    n: int = Field(1, ge=1, le=16)
    stream: bool = False
    stream_options: StreamOptions | None = None
    ignore_eos: bool = False
    min_tokens: int | None = Field(None, ge=0)


class ChatCompletionRequest(Sampling):
    messages: list[ChatMessage] = Field(min_length=1)
    tools: list[ToolDef] | None = None
    tool_choice: Literal["auto", "none", "required"] | NamedToolChoice | None = None
    parallel_tool_calls: bool = True
    max_completion_tokens: int | None = Field(None, ge=1)
    logprobs: bool = False
    top_logprobs: int | None = Field(None, ge=0, le=20)
    chat_template_kwargs: dict[str, Any] | None = None
    thinking: ThinkingParam | None = None
    reasoning_effort: str | None = None
    response_format: ResponseFormat | None = None


class CompletionRequest(Sampling):
    prompt: str | list[str] | list[int]
    max_tokens: int | None = Field(16, ge=1)
    logprobs: int | None = Field(None, ge=0, le=20)
    echo: bool = False


class TokenizeRequest(_Wire):
    model: str | None = None
    prompt: str | None = None
    messages: list[ChatMessage] | None = Field(None, min_length=1)
    tools: list[ToolDef] | None = None
    add_generation_prompt: bool = True
    chat_template_kwargs: dict[str, Any] | None = None


class EmbeddingsRequest(BaseModel):
    """Passed to the hosted API as sent (its fields: model, input, dimensions, …)."""

    model_config = ConfigDict(extra="allow")
    model: str = "embedding-3"
    input: str | list[str]


class ImagesRequest(BaseModel):
    """Passed to the hosted API as sent (its fields: model, prompt, size, quality, …)."""

    model_config = ConfigDict(extra="allow")
    model: str = "cogview-4"
    prompt: str = Field(min_length=1)
