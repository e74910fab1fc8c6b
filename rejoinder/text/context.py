"""Turning dialog turns into model text: the one place training and serving both call.

As in the seed system, a context is its most recent turns joined with a turn separator
(`###` by default) and, once tokenized, truncated from the left so the newest words survive;
a session is all its turns joined the same way.
"""

from __future__ import annotations

from typing import Sequence


def _clean(turn: str) -> str:
    # Newlines inside a turn would be indistinguishable from line breaks in shards and logs.
    return " ".join(turn.split())


def join_turns(turns: Sequence[str], separator: str = "###") -> str:
    """Turns → one string with ` <separator> ` between them (whitespace inside turns normalised)."""
    if isinstance(turns, str):
        raise TypeError("turns must be a sequence of strings, not one string")
    return f" {separator} ".join(_clean(t) for t in turns)


def context_text(turns: Sequence[str], *, separator: str = "###", max_turns: int = 4) -> str:
    """The context model input: the last `max_turns` turns joined with the separator."""
    if max_turns < 1:
        raise ValueError(f"max_turns must be at least 1, got {max_turns}")
    if isinstance(turns, str):
        raise TypeError("a context is a sequence of turns, not one string")
    return join_turns(list(turns)[-max_turns:], separator)


def session_text(turns: Sequence[str], *, separator: str = "###") -> str:
    """The session-scorer input: every turn of the session joined with the separator."""
    return join_turns(turns, separator)
