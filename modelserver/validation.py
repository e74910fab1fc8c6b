"""Request checks and the truncation rule: pure functions, no gRPC.

Bad input raises `InvalidRequest` (answered INVALID_ARGUMENT) with a message naming the field.
Over-long text is never rejected; it is cut by one documented rule (docs/serving.md):

1. characters: a turn keeps at most `MAX_TURN_CHARS` characters — the *last* ones for context
   and session turns (the end of what was said is what a reply answers), the *first* ones for
   responses;
2. turns: a context keeps its last `maxContextTurns` turns (spec.data.maxContextTurns); older
   turns are dropped, never an error — chat clients send their whole history. What bounds a
   request is its size in bytes (the server's max receive message length, RESOURCE_EXHAUSTED);
3. tokens: the model truncates token ids to its fixed sequence lengths — contexts and
   sessions from the left (newest tokens kept), responses from the right; a cross-encoder
   keeps `contextLength` context tokens and `responseLength` response tokens
   (rejoinder.text.features).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from .config import DEFAULT_MAX_CONTEXT_TURNS, SERVING_DEFAULTS

MAX_TURN_CHARS = 4096
MAX_CANDIDATES = 1000
MAX_TOP_K = 1000


class InvalidRequest(ValueError):
    """The request cannot be answered as sent; the message says which field and why."""


@dataclass(frozen=True)
class Limits:
    max_context_turns: int = DEFAULT_MAX_CONTEXT_TURNS  # turns the model sees; older ones are dropped, not an error
    max_candidates: int = MAX_CANDIDATES
    default_top_k: int = SERVING_DEFAULTS.top_k
    max_top_k: int = MAX_TOP_K
    max_turn_chars: int = MAX_TURN_CHARS


def _check_turns(turns: Sequence[str], field: str, first: int = 0) -> None:
    """`turns` are `field[first:]` of the request (indexes in messages are the client's)."""
    if len(turns) == 0:
        raise InvalidRequest(f"{field} is empty: send at least one turn")
    for i, turn in enumerate(turns, start=first):
        if not turn.strip():
            raise InvalidRequest(f"{field}[{i}] is empty: every turn needs some text")


def context_turns(turns: Sequence[str], limits: Limits, field: str = "context") -> list[str]:
    """A checked context, cut to the turns and characters the model uses (rules 1 and 2).

    Only the kept turns are checked: an empty turn the model never sees is not worth a refusal."""
    if len(turns) == 0:
        raise InvalidRequest(f"{field} is empty: send at least one turn")
    first = max(0, len(turns) - limits.max_context_turns)
    kept = list(turns)[first:]
    _check_turns(kept, field, first)
    return [t[-limits.max_turn_chars :] for t in kept]


def session_turns(turns: Sequence[str], limits: Limits) -> list[str]:
    _check_turns(turns, "turns")
    return [t[-limits.max_turn_chars :] for t in turns]


def responses(texts: Sequence[str], limits: Limits) -> list[str]:
    if len(texts) == 0:
        raise InvalidRequest("responses is empty: send at least one candidate response")
    if len(texts) > limits.max_candidates:
        raise InvalidRequest(f"responses has {len(texts)} candidates; at most {limits.max_candidates} are accepted")
    for i, text in enumerate(texts):
        if not text.strip():
            raise InvalidRequest(f"responses[{i}] is empty")
    return [t[: limits.max_turn_chars] for t in texts]


def top_k(value: int, limits: Limits) -> int:
    """0 means the server's default; otherwise 1..max_top_k."""
    if value == 0:
        return min(limits.default_top_k, limits.max_top_k)
    if not 1 <= value <= limits.max_top_k:
        raise InvalidRequest(
            f"top_k {value} is out of range: use 1..{limits.max_top_k} (0 = default {limits.default_top_k})"
        )
    return value
