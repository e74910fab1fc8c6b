"""A seeded simulated user, for the feedback loop on one machine (docs/feedback.md). Pure.

It is a SIMULATION, labelled as one everywhere: its session ids are `sim-<seed>-<n>`, the CLI and
its log lines say "simulated users", and `rejoinder report` titles its plot so.

The user sends a held-out context of the retrieval model (a context of its own evaluation split,
never one training saw) and judges the answer against the context's true responses by one
stated rule, `is_match`:

    upvote when the answer, normalized (lower case, punctuation dropped, spaces collapsed), equals
    a true response normalized, or when the two share at least `PARAPHRASE_JACCARD` of their
    words (token Jaccard: |A ∩ B| / |A ∪ B| of the normalized word sets); downvote otherwise.

Held-out contexts are cut in two fixed halves by a hash of the context: reactions collected on
the `collect` half train the new reranker, and the canary is judged on the `judge` half, so a
version is never scored on contexts whose reactions it was trained on.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum
from typing import Iterable, Sequence

from .records import ReactionKind

PARAPHRASE_JACCARD = 0.6
SESSION_PREFIX = "sim-"
LABEL = "simulated users"

_NOT_WORD = re.compile(r"[^\w\s]+")
_SPACES = re.compile(r"\s+")


def normalize(text: str) -> str:
    """Lower case, accents kept, punctuation dropped, whitespace collapsed."""
    text = unicodedata.normalize("NFKC", text).lower()
    return _SPACES.sub(" ", _NOT_WORD.sub(" ", text)).strip()


def jaccard(a: str, b: str) -> float:
    """Token Jaccard of the normalized word sets (0 when both are empty)."""
    x, y = set(normalize(a).split()), set(normalize(b).split())
    union = x | y
    return len(x & y) / len(union) if union else 0.0


def is_match(answer: str, truth: str, threshold: float = PARAPHRASE_JACCARD) -> bool:
    """The answer is the true response or a close paraphrase of it (the rule in the module doc)."""
    a, t = normalize(answer), normalize(truth)
    if a == t:
        return bool(a)
    return jaccard(answer, truth) >= threshold


def react(answer: str, truths: Iterable[str], threshold: float = PARAPHRASE_JACCARD) -> ReactionKind:
    return ReactionKind.upvote if any(is_match(answer, t, threshold) for t in truths) else ReactionKind.downvote


# --- the held-out contexts ---------------------------------------------------------------------


class Half(StrEnum):
    collect = "collect"  # reactions that retrain the reranker
    judge = "judge"  # reactions that judge the canary
    all = "all"


@dataclass(frozen=True)
class HeldOut:
    """One held-out context and every true response the data gives it."""

    context: tuple[str, ...]
    truths: tuple[str, ...]


def half_of(context: Sequence[str]) -> Half:
    key = json.dumps(list(context), ensure_ascii=False).encode("utf-8")
    return Half.collect if hashlib.sha256(b"sim-half:" + key).digest()[0] < 128 else Half.judge


def group_held_out(pairs: Iterable[tuple[Sequence[str], str]], half: Half = Half.all) -> list[HeldOut]:
    """(context, response) pairs → one HeldOut per context (first-seen order), of `half`."""
    truths: dict[tuple[str, ...], list[str]] = {}
    for context, response in pairs:
        key = tuple(context)
        if half is not Half.all and half_of(key) is not half:
            continue
        seen = truths.setdefault(key, [])
        if response not in seen:
            seen.append(response)
    return [HeldOut(c, tuple(t)) for c, t in truths.items()]


# --- who sends what, where ---------------------------------------------------------------------


class Arm(StrEnum):
    stable = "stable"
    canary = "canary"


@dataclass(frozen=True)
class Visit:
    """One simulated session: one context sent to one target, then one reaction."""

    number: int
    session_id: str
    held_out: HeldOut
    arm: Arm


def session_id(seed: int, number: int) -> str:
    return f"{SESSION_PREFIX}{seed}-{number}"


def is_simulated(session: str) -> bool:
    return session.startswith(SESSION_PREFIX)


def visits(held_out: Sequence[HeldOut], count: int, seed: int, canary_share: float = 0.0,
           start: int = 0) -> list[Visit]:
    """`count` sessions, numbered from `start`: contexts drawn with replacement and the arm drawn
    with probability `canary_share` for the canary, all from `seed` (the same arguments give the
    same visits). Drawing per session is how local mode makes a canary's traffic share."""
    if not held_out:
        raise ValueError("no held-out contexts to send")
    if count < 0:
        raise ValueError(f"count must not be negative, got {count}")
    if not 0.0 <= canary_share <= 1.0:
        raise ValueError(f"canary share must be in [0, 1], got {canary_share}")
    rng = random.Random(f"{seed}:{start}")
    out = []
    for number in range(start, start + count):
        chosen = held_out[rng.randrange(len(held_out))]
        arm = Arm.canary if rng.random() < canary_share else Arm.stable
        out.append(Visit(number, session_id(seed, number), chosen, arm))
    return out
