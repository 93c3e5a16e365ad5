"""The Backend protocol: the one seam between the HTTP surface and whatever generates text."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from .events import StreamEvent
from .request import ChatRequest, CompletionRequest


@dataclass(frozen=True, slots=True)
class Health:
    ready: bool
    detail: str
    backend: str
    loading: bool = False  # not ready yet, but on its way (an engine loading its weights)


class Backend(Protocol):
    """Generates events for a request.

        ChatRequest ─▶ backend.stream(req) ─▶ MessageStart, ReasoningDelta | TextDelta | ToolCall*
                                               | LogprobsDelta …, MessageEnd

    `stream` raises core.errors (InvalidRequest, ContextTooLong, BackendUnavailable, …) before its
    first event when it can; an error later ends the stream. Closing the iterator early (the client
    went away) must stop the work: the local backend aborts the engine request.
    """

    name: str

    async def start(self) -> None:
        """Load whatever is slow to load (the engine). Called once, in the background."""

    def stream(self, req: ChatRequest | CompletionRequest) -> AsyncIterator[StreamEvent]: ...

    def model_ids(self) -> list[str]: ...

    def serves(self, model: str) -> bool:
        """Whether a request may name `model` (usually: it is one of model_ids())."""
        ...

    def context_length(self) -> int | None: ...

    def batch_size(self) -> int | None:
        """How many requests it generates at once (the engine's max_num_seqs); None where no bound is
        known (a remote API) or not yet (an engine still loading). Admission queues beyond it."""
        ...

    async def tokenize(self, req: ChatRequest | CompletionRequest) -> list[int]:
        """The prompt token ids the request would be sent to the model with."""
        ...

    async def count_tokens(self, req: ChatRequest | CompletionRequest) -> int:
        """The prompt's length in tokens (an estimate where the backend has no tokenizer)."""
        ...

    async def health(self) -> Health: ...

    async def aclose(self) -> None: ...


class Passthrough(Protocol):
    """Endpoints no open GLM weights serve (embeddings, image generation), answered by the hosted API.

    `post("/embeddings", body)` returns the hosted API's JSON answer, or raises core.errors (its
    business codes translated, as for chat)."""

    async def post(self, endpoint: str, body: Mapping[str, Any]) -> Mapping[str, Any]: ...

    async def aclose(self) -> None: ...
