"""ResponseStore: responses kept for `previous_response_id` and GET/DELETE, bounded in count and age.

Stateless use (Codex's `store: false`, the whole history resent each turn) never touches it. A stored
entry keeps the response object as returned and the conversation up to and including its output, as
input items, so that a follow-up continues from exactly what the model saw and wrote.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from . import schema


@dataclass(frozen=True, slots=True)
class Stored:
    response: dict[str, Any]
    items: tuple[schema.Item, ...]  # earlier turns, this request's input, this response's output
    at: float


class ResponseStore:
    def __init__(self, max_count: int, max_age: float) -> None:
        self._entries: OrderedDict[str, Stored] = OrderedDict()
        self._max_count = max_count
        self._max_age = max_age

    def put(self, response: dict[str, Any], items: tuple[schema.Item, ...]) -> None:
        self._expire()
        self._entries[response["id"]] = Stored(response, items, time.monotonic())
        while len(self._entries) > self._max_count:
            self._entries.popitem(last=False)  # the oldest first

    def get(self, response_id: str) -> Stored | None:
        self._expire()
        return self._entries.get(response_id)

    def delete(self, response_id: str) -> bool:
        self._expire()
        return self._entries.pop(response_id, None) is not None

    def item(self, item_id: str) -> schema.Item | None:
        """The newest stored item (input or output) with this id, for an `item_reference`. A search
        rather than an index: the store is small, and references come once per turn."""
        self._expire()
        for stored in reversed(self._entries.values()):
            for item in reversed(stored.items):
                if getattr(item, "id", None) == item_id and not isinstance(item, schema.ItemReference):
                    return item
        return None

    def __len__(self) -> int:
        return len(self._entries)

    def _expire(self) -> None:
        cutoff = time.monotonic() - self._max_age
        while self._entries:
            oldest = next(iter(self._entries.values()))
            if oldest.at >= cutoff:
                break
            self._entries.popitem(last=False)
