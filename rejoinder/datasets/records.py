"""Conversations → task records, with the bounds every corpus shares. Pure functions.

    pairs      each turn after the first answers the turns before it: (context, reply); a reply
               longer than MAX_TURN_WORDS is skipped (and not a candidate), a context turn that
               long keeps its newest MAX_TURN_WORDS words; a context keeps its newest
               `context_turns` turns (what the model reads, data.maxContextTurns)
    candidates the distinct replies of the pairs, ids from their text (stable across imports)
    sessions   rated conversations labelled good or bad by a SessionRule
"""

from __future__ import annotations

import hashlib
import statistics
from dataclasses import dataclass
from typing import Iterable, Mapping, Optional, Sequence

from ..text.formats import Candidate, DialogPair, Session
from .base import Conversation, Counts

# Replies above it are rare (chitchat: p95 47 words, p99 88) and longer than the 64-80 tokens a
# model reads; contexts keep their newest words, which the featurizer would keep anyway.
MAX_TURN_WORDS = 64


def text_id(prefix: str, text: str) -> str:
    return f"{prefix}-{hashlib.sha256(text.encode('utf-8')).hexdigest()[:12]}"


def _bounded_context(turns: Sequence[str]) -> tuple[str, ...]:
    return tuple(" ".join(t.split()[-MAX_TURN_WORDS:]) for t in turns)


def conversation_pairs(conversation: Conversation, context_turns: int, source: str, counts: Counts) -> list[DialogPair]:
    out = []
    turns = conversation.turns
    for i in range(1, len(turns)):
        if len(turns[i].split()) > MAX_TURN_WORDS:
            counts.skip(f"replies over {MAX_TURN_WORDS} words")
            continue
        out.append(DialogPair(_bounded_context(turns[max(0, i - context_turns):i]), turns[i], source))
    counts.keep("pairs", len(out))
    return out


def candidates_of(pairs: Iterable[DialogPair], prefix: str, source: str) -> list[Candidate]:
    """The distinct replies, in first-seen order."""
    seen: dict[str, Candidate] = {}
    for pair in pairs:
        if pair.response not in seen:
            seen[pair.response] = Candidate(text_id(prefix, pair.response), pair.response, source)
    return list(seen.values())


def echo_rows(pairs: Sequence[DialogPair]) -> int:
    """Pairs whose reply repeats one of its context's turns exactly: the no-parroting rule makes
    their reply unreachable, so they are counted wherever it is applied."""
    return sum(1 for p in pairs if p.response in p.context)


# --- session labels from people's ratings ---------------------------------------------------------

UNTOUCHED = {"interesting": 5, "witty": 5, "upbeat": 5}


def rating_score(ratings: Mapping[str, int]) -> float:
    return float(statistics.mean(ratings.values()))


def is_untouched(ratings: Mapping[str, int]) -> bool:
    """5/5/5 is where the rating form starts: the participant most likely never moved it."""
    return dict(ratings) == UNTOUCHED


@dataclass(frozen=True)
class SessionRule:
    """A session is good when the mean of its ratings is at least `threshold`, bad below it;
    untouched 5/5/5 ratings (no judgement given) are left out. The threshold is the median of
    the training sessions' mean ratings (`from_train`), so the classes are about even there and
    nothing about dev or test is looked at."""

    threshold: float

    @classmethod
    def from_train(cls, train: Iterable[Conversation]) -> "SessionRule":
        scores = [rating_score(c.ratings) for c in train if c.ratings and not is_untouched(c.ratings)]
        if not scores:
            raise ValueError("no rated training sessions to choose the good/bad threshold on")
        return cls(float(statistics.median(scores)))

    def label(self, conversation: Conversation) -> Optional[bool]:
        if not conversation.ratings or is_untouched(conversation.ratings):
            return None
        return rating_score(conversation.ratings) >= self.threshold

    def describe(self) -> str:
        return (f"good = mean of the participants' ratings (interesting, witty, upbeat) >= {self.threshold:g} "
                "(the median over rated training sessions), bad = below it; untouched 5/5/5 ratings and "
                "unrated sessions are left out")


def rated_sessions(conversations: Iterable[Conversation], rule: SessionRule, source: str, counts: Counts) -> list[Session]:
    out = []
    for conversation in conversations:
        label = rule.label(conversation)
        if label is None:
            counts.skip("sessions unrated or left at 5/5/5")
            continue
        out.append(Session(conversation.turns, label, source))
        counts.keep("good sessions" if label else "bad sessions")
    return out
