"""Compaction: a conversation summarised by the served model into one sealed item (/v1/responses/compact).

As OpenAI's endpoint does, the compacted window keeps the user's own messages verbatim and replaces the
rest (assistant turns, reasoning, tool calls and their outputs) with one `compaction` item. Its
encrypted_content is the summary, sealed like reasoning; sent back as input, it renders as a user turn
carrying the summary, where it stood.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from typing import Any

from ..core.backend import Backend
from ..core.request import ChatRequest, Message, Thinking
from . import schema

INSTRUCTION = (
    "Compact the conversation above so that it can go on in a fresh context. Write a summary another "
    "assistant could continue from: the user's goals and constraints, the decisions made, what has been "
    "done (files read or changed, commands run, tool results that matter), what is left to do, and any "
    "open question. Be specific: names, paths, numbers. Write only the summary."
)
HEADER = "Summary of the earlier part of this conversation (compacted):"
# The summary's room: a request whose history leaves less is cut from its oldest turns first.
SUMMARY_ROOM = 2048


def context_message(summary: str) -> Message:
    """What a compaction item renders as in a later prompt."""
    return Message("user", f"{HEADER}\n\n{summary}")


def request(model: str, history: Sequence[Message], instructions: str | None) -> ChatRequest:
    """The summarising request: the conversation, then the instruction; no tools, no thinking."""
    system = (Message("system", instructions),) if instructions else ()
    return ChatRequest(
        model=model,
        messages=(*system, *history, Message("user", INSTRUCTION)),
        thinking=Thinking(enabled=False),
    )


async def fitted(backend: Backend, req: ChatRequest) -> ChatRequest:
    """`req` with its oldest turns left out as far as needed for the summary's room in the context
    (compaction is asked for when the context is nearly full). The system message and the instruction
    always stay; a binary search keeps the count of tokenisations logarithmic."""
    context = backend.context_length()
    if context is None or await backend.count_tokens(req) + SUMMARY_ROOM <= context:
        return req
    head = 1 if req.messages[0].role == "system" else 0
    turns = req.messages[head:-1]

    def without(n: int) -> ChatRequest:
        return ChatRequest(
            model=req.model,
            messages=(*req.messages[:head], *turns[n:], req.messages[-1]),
            thinking=req.thinking,
        )

    low, high = 1, len(turns)  # leaving out `high` turns fits (the instruction alone), as far as known
    while low < high:
        mid = (low + high) // 2
        if await backend.count_tokens(without(mid)) + SUMMARY_ROOM <= context:
            high = mid
        else:
            low = mid + 1
    return without(high)


def output(items: Sequence[schema.Item], sealed: str) -> list[dict[str, Any]]:
    """The compacted window: the user's messages as they were, then the compaction item."""
    kept: list[dict[str, Any]] = []
    for item in items:
        if isinstance(item, schema.MessageItem) and item.role == "user":
            content = (
                [{"type": "input_text", "text": item.content}]
                if isinstance(item.content, str)
                else [part.model_dump(exclude_none=True) for part in item.content]
            )
            kept.append(
                {
                    "id": item.id or f"msg_{uuid.uuid4().hex}",
                    "type": "message",
                    "status": "completed",
                    "role": "user",
                    "content": content,
                }
            )
    return [*kept, {"id": f"cmp_{uuid.uuid4().hex}", "type": "compaction", "encrypted_content": sealed}]


def resource(output_items: list[dict[str, Any]], usage: dict[str, Any]) -> dict[str, Any]:
    """The response.compaction object."""
    return {
        "id": f"resp_{uuid.uuid4().hex}",
        "object": "response.compaction",
        "created_at": int(time.time()),
        "output": output_items,
        "usage": usage,
    }
