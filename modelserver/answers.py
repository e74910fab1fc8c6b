"""What this server answered, by response id: the bounded, expiring memory Feedback looks ids up in.

A response id is `<instance>.<random>`: URL-safe, unguessable, and naming the server process that
answered (replicas do not share this memory, so an id is only known where it was made). Entries
leave the memory after `ttl_s` or when it holds `capacity` answers (oldest first): a reaction to
an older answer is sent as context + response text instead (docs/feedback.md).

Single-threaded by design: the gRPC event loop is the only caller.
"""

from __future__ import annotations

import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable, Hashable, Optional

from rejoinder.feedback.records import ServedBy
from rejoinder.feedback.segments import safe_instance

ID_RANDOM_BYTES = 12  # 96 bits: 16 URL-safe characters
DEFAULT_CAPACITY = 200_000  # answers (one per returned candidate), ~100 MB at chat-sized texts
DEFAULT_TTL_S = 3600.0


@dataclass(frozen=True)
class Answer:
    context: tuple[str, ...]  # the turns as the model used them (after truncation)
    text: str
    candidate_id: str
    served_by: ServedBy


def new_response_id(instance: str) -> str:
    return f"{safe_instance(instance)}.{secrets.token_urlsafe(ID_RANDOM_BYTES)}"


def instance_of(response_id: str) -> str:
    """The (file-name-safe) instance an id names; "" when it is not one of ours."""
    instance, dot, rest = response_id.rpartition(".")
    return instance if dot and rest else ""


class ExpiringMap:
    """Insertion-ordered map with a size bound and a time-to-live, on an injectable clock."""

    def __init__(self, capacity: int, ttl_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        if capacity < 1 or ttl_s <= 0:
            raise ValueError(f"capacity must be >= 1 and ttl > 0, got {capacity}, {ttl_s}")
        self.capacity, self.ttl_s, self.clock = capacity, ttl_s, clock
        self._items: OrderedDict[Hashable, tuple[float, object]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def _expire(self, now: float) -> None:
        while self._items:
            stored, _ = next(iter(self._items.values()))
            if now - stored < self.ttl_s and len(self._items) <= self.capacity:
                return
            self._items.popitem(last=False)

    def put(self, key: Hashable, value: object) -> None:
        now = self.clock()
        self._items.pop(key, None)
        self._items[key] = (now, value)
        self._expire(now)

    def get(self, key: Hashable) -> Optional[object]:
        now = self.clock()
        self._expire(now)
        item = self._items.get(key)
        return None if item is None else item[1]

    def __contains__(self, key: Hashable) -> bool:
        return self.get(key) is not None


class AnswerMemory(ExpiringMap):
    """response id → Answer."""

    def remember(self, response_id: str, answer: Answer) -> None:
        self.put(response_id, answer)

    def recall(self, response_id: str) -> Optional[Answer]:
        found = self.get(response_id)
        assert found is None or isinstance(found, Answer)
        return found
