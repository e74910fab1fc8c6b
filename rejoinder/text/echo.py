"""The no-parroting rule, in one place: a reply is never one of the context's own turns.

A pool of real chat turns holds the user's own messages, and an encoder that has not learned
better answers with them (an untrained MiniLM ranks one of the context's turns first for ~95 % of
chitchat contexts). Serving (modelserver/answers.py) never returns such a candidate, evaluation
(training/evaluation.py) never counts one, and training (training.contrastiveLoss.echoNegatives)
shows the model the context's newest turns as negatives. Two texts are the same turn when their
case-folded, whitespace-collapsed forms are equal.
"""

from __future__ import annotations

from typing import Iterable, Mapping, Sequence


def echo_key(text: str) -> str:
    return " ".join(text.casefold().split())


def keys_of(texts: Iterable[str]) -> dict[str, list[int]]:
    """echo key → indices of the texts with it (a pool may hold "Yeah" and "yeah")."""
    out: dict[str, list[int]] = {}
    for i, text in enumerate(texts):
        out.setdefault(echo_key(text), []).append(i)
    return out


def echo_indices(context: Sequence[str], pool_keys: Mapping[str, list[int]]) -> list[int]:
    """Indices of the pool's texts that repeat one of the context's turns."""
    return sorted({i for turn in context for i in pool_keys.get(echo_key(turn), ())})


def is_echo(text: str, context: Sequence[str]) -> bool:
    key = echo_key(text)
    return any(echo_key(turn) == key for turn in context)

RULE = ("a reply is never one of the context's own turns (case-folded, whitespace-collapsed exact match): "
        "such candidates are skipped in serving and never ranked in evaluation")
