"""Upvote ratios per served version, from the reaction log (what `rejoinder report` prints and
plots: the seed's "total upvotes ratio dynamics"). Pure.

A reaction told twice (the same dedupe key) is counted once, as the server and the canary count it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Iterable, Sequence

from ..constants import RFC3339
from .canary import VersionCounts
from .records import ReactionRecord
from .simulation import is_simulated


@dataclass(frozen=True)
class VersionRow:
    version: str
    upvotes: int
    downvotes: int
    first: datetime
    last: datetime

    @property
    def reactions(self) -> int:
        return self.upvotes + self.downvotes

    @property
    def ratio(self) -> float:
        return self.upvotes / self.reactions  # a row exists only with at least one reaction

    @property
    def counts(self) -> VersionCounts:
        return VersionCounts(self.upvotes, self.downvotes)


@dataclass(frozen=True)
class Point:
    """The cumulative upvote ratio of a version after its `reactions`-th reaction, at `time`."""

    time: datetime
    reactions: int
    ratio: float


def unique(records: Iterable[ReactionRecord]) -> list[ReactionRecord]:
    """Each reaction once (the first told), in log order."""
    seen: set[tuple[str, ...]] = set()
    out = []
    for r in records:
        if r.dedupe_key not in seen:
            seen.add(r.dedupe_key)
            out.append(r)
    return out


def from_time(records: Iterable[ReactionRecord], since: datetime) -> list[ReactionRecord]:
    """The reactions told at or after `since` (whole seconds; the canary counts from its start
    this way)."""
    return [r for r in records if r.time >= since]


def by_version(records: Sequence[ReactionRecord]) -> list[VersionRow]:
    """One row per served version (model+reranker), in order of each version's first reaction."""
    rows: dict[str, list[ReactionRecord]] = {}
    for r in sorted(records, key=lambda r: r.time):
        rows.setdefault(r.served_by.version, []).append(r)
    return [VersionRow(v, sum(r.upvote for r in rs), sum(not r.upvote for r in rs), rs[0].time, rs[-1].time)
            for v, rs in rows.items()]


def cumulative_ratios(records: Sequence[ReactionRecord]) -> dict[str, list[Point]]:
    """Per version, the cumulative upvote ratio after each reaction, in time order."""
    series: dict[str, list[Point]] = {}
    totals: dict[str, tuple[int, int]] = {}
    for r in sorted(records, key=lambda r: r.time):
        up, n = totals.get(r.served_by.version, (0, 0))
        up, n = up + r.upvote, n + 1
        totals[r.served_by.version] = (up, n)
        series.setdefault(r.served_by.version, []).append(Point(r.time, n, up / n))
    return series


def all_simulated(records: Sequence[ReactionRecord]) -> bool:
    """Every reaction came from `rejoinder simulate-users` (its sessions are labelled sim-…)."""
    return bool(records) and all(is_simulated(r.session_id) for r in records)


def title(records: Sequence[ReactionRecord], model: str) -> str:
    who = "SIMULATED users" if all_simulated(records) else (
        "users (some sessions simulated)" if any(is_simulated(r.session_id) for r in records) else "users")
    return f"{model}: cumulative upvote ratio per served version ({who})"


def format_table(rows: Sequence[VersionRow]) -> str:
    header = ("VERSION", "REACTIONS", "UPVOTES", "RATIO", "FIRST", "LAST")
    lines = [header] + [(r.version, str(r.reactions), str(r.upvotes), f"{r.ratio:.3f}",
                         r.first.strftime(RFC3339), r.last.strftime(RFC3339)) for r in rows]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip() for line in lines)
