"""Reranking data from what users said (`data.reactionsFrom`), alone or mixed with a preset's proxy
reactions (docs/feedback.md, "Training data").

- The users' reactions are the source model's reaction log compacted up to `until`
  (rejoinder.feedback.compaction). `until` must have passed (later reactions could still arrive,
  so the data, and the version named after the spec, would not be fixed); fewer than
  `minReactions` reactions is refused.
- Held out by context: a context's reactions all land on one side, by the hash a dialog pair's
  split uses (formats.split_key hashes a pair's context alone), so a held-out context is never
  one training taught a label for.
- Mixed with a preset: all of both, each record keeping its source (`users` or `proxy:…`). The
  users' split decides for every context users reacted to: proxy records of a context the users'
  split holds out are not trained on, and proxy held-out records of a context users' reactions
  train on are no longer held out (both are dropped, and counted). The proxy's own split decides
  the rest.
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path
from typing import Any, Optional, Sequence

from rejoinder.constants import RFC3339
from rejoinder.feedback.compaction import USERS_SOURCE, Compacted, compact_dir
from rejoinder.text.formats import DialogPair, Reaction, in_eval_split

log = logging.getLogger(__name__)


class ReactionsNotReady(ValueError):
    """The users' reactions cannot be training data yet: the message says why and what to change."""


def load(source: Any, directory: Path, now: datetime) -> Compacted:
    """The compacted reactions of `source` (a ReactionsSource) from its reactions directory."""
    until = source.until
    if until > now:
        raise ReactionsNotReady(
            f"data.reactionsFrom.until {until.strftime(RFC3339)} is in the future (now {now.strftime(RFC3339)}): "
            "reactions acknowledged before it may still arrive, so the training data would not be fixed; "
            "set until to a time that has passed")
    compacted = compact_dir(directory, until)
    count = len(compacted.reactions)
    if count < source.min_reactions:
        raise ReactionsNotReady(
            f"data.reactionsFrom: {count} reactions to DialogModel {source.dialog_model} acknowledged before "
            f"{until.strftime(RFC3339)} in {directory}, fewer than minReactions {source.min_reactions}: "
            "wait for more feedback and raise until, or lower minReactions")
    return compacted


def held_out(context: Sequence[str], fraction: float, salt: str) -> bool:
    """Whether a context's reactions are held out (the same hash as a dialog pair of that context)."""
    return in_eval_split(DialogPair(tuple(context), ""), fraction, salt)


def split(reactions: Sequence[Reaction], fraction: float, salt: str) -> tuple[list[Reaction], list[Reaction]]:
    train: list[Reaction] = []
    held: list[Reaction] = []
    for r in reactions:
        (held if held_out(r.context, fraction, salt) else train).append(r)
    return train, held


def mix(user_train: Sequence[Reaction], user_held: Sequence[Reaction],
        proxy_train: Sequence[Reaction], proxy_held: Sequence[Reaction]) -> tuple[list[Reaction], list[Reaction], int]:
    """(train, held, proxy records dropped) by the rule in the module docstring."""
    trained_by_users = {r.context for r in user_train}
    held_by_users = {r.context for r in user_held}
    train = [r for r in proxy_train if r.context not in held_by_users]
    held = [r for r in proxy_held if r.context not in trained_by_users]
    dropped = len(proxy_train) - len(train) + len(proxy_held) - len(held)
    return [*train, *user_train], [*held, *user_held], dropped


def by_origin(held: Sequence[Any]) -> dict[str, list[Any]]:
    """Held-out records of mixed data as {"users": [...], "proxy": [...]}, so each is scored on its
    own as well (the users' part is what serving is judged by); {} unless both are there."""
    users = [r for r in held if getattr(r, "source", None) == USERS_SOURCE]
    if not users or len(users) == len(held):
        return {}
    return {"users": users, "proxy": [r for r in held if getattr(r, "source", None) != USERS_SOURCE]}


def labels(source: Any, compacted: Compacted, user_counts: tuple[int, int], proxy_counts: Optional[tuple[int, int]],
           proxy_labels: Optional[dict[str, Any]], dropped: int) -> dict[str, Any]:
    """What data.json and metrics.json say about the data: how many user reactions and proxy
    examples went in, and the users' upvote ratio."""
    summary = compacted.summary
    users = {"train": user_counts[0], "eval": user_counts[1], "total": sum(user_counts),
             "upvotes": summary.overall.upvotes, "downvotes": summary.overall.downvotes,
             "upvoteRatio": round(summary.overall.upvote_ratio, 6),
             "byVersion": {v: c.to_json() for v, c in sorted(summary.by_version.items())},
             "compaction": {k: v for k, v in summary.to_json().items() if k not in ("byVersion",)}}
    what = (f"user reactions to DialogModel {source.dialog_model} acknowledged before "
            f"{source.until.strftime(RFC3339)} (source: {USERS_SOURCE})")
    note: dict[str, Any] = {"proxy": False, "source": USERS_SOURCE, "description": what,
                            "reactionsFrom": source.dialog_model, "until": source.until.strftime(RFC3339),
                            "userReactions": users, "proxyExamples": {"train": 0, "eval": 0, "dropped": 0}}
    if proxy_counts is not None and proxy_labels is not None:
        note = {**proxy_labels, **note, "proxy": True, "source": f"{USERS_SOURCE}+{proxy_labels['source']}",
                "description": f"{what}, mixed with {proxy_labels['description']}",
                "proxyExamples": {"train": proxy_counts[0], "eval": proxy_counts[1], "dropped": dropped}}
    return note
