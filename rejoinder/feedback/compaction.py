"""Compaction: a model's reaction segments → the reranker's training reactions (docs/feedback.md).

The rules, each stated once here:

- **Cutoff**: only reactions acknowledged before `until` count. A server stamps a record when it
  acknowledges it and segments only grow, so once `until` has passed the set is fixed: the same
  cutoff gives the same data on every run (that is what makes a model version reproducible).
- **Version filter** (optional): only answers served by the given served versions
  (`ServedBy.version`, the unit a canary compares).
- **Duplicates**: records with the same `dedupe_key` are one reaction told twice: counted once.
- **Conflicts**: one answer (a response id, or for id-less feedback the session, context and
  response) reacted to both ways keeps its *latest* reaction by acknowledged time (ties: the one
  read last): a user who changed their mind meant the second one.
- Each kept reaction is joined with the context it answered (records carry it) and labelled
  `"source": "users"`.

`compact` is pure; `compact_dir` reads the segments (counting torn last lines) and
`write_reactions` writes the result atomically.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any, Collection, Iterable, Optional

from ..constants import RFC3339
from ..text.formats import Reaction, write_records
from .records import ReactionRecord
from .segments import read_reactions, segments

USERS_SOURCE = "users"  # the `source` of every compacted reaction: what users said, not a proxy
CONFLICT_RULE = "one answer reacted to both ways keeps its latest reaction by acknowledged time"


class NoReactions(ValueError):
    """There is nothing to compact: the message says where it looked and what to check."""


@dataclass(frozen=True)
class VersionCounts:
    upvotes: int = 0
    downvotes: int = 0

    @property
    def total(self) -> int:
        return self.upvotes + self.downvotes

    @property
    def upvote_ratio(self) -> float:
        return self.upvotes / self.total if self.total else 0.0

    def to_json(self) -> dict[str, Any]:
        return {"upvotes": self.upvotes, "downvotes": self.downvotes, "upvoteRatio": round(self.upvote_ratio, 6)}


@dataclass(frozen=True)
class Summary:
    records_read: int
    after_cutoff: int  # acknowledged at or after `until`: left out
    other_versions: int  # served by a version the filter did not ask for: left out
    duplicates_dropped: int
    conflicts_resolved: int
    torn_lines_skipped: int
    by_version: dict[str, VersionCounts] = field(default_factory=dict)  # of the kept reactions
    until: Optional[datetime] = None

    @property
    def reactions(self) -> int:
        return sum(c.total for c in self.by_version.values())

    @property
    def overall(self) -> VersionCounts:
        return VersionCounts(sum(c.upvotes for c in self.by_version.values()),
                             sum(c.downvotes for c in self.by_version.values()))

    def to_json(self) -> dict[str, Any]:
        return {
            "recordsRead": self.records_read,
            "afterCutoff": self.after_cutoff,
            "otherVersions": self.other_versions,
            "duplicatesDropped": self.duplicates_dropped,
            "conflictsResolved": self.conflicts_resolved,
            "tornLinesSkipped": self.torn_lines_skipped,
            "reactions": self.reactions,
            **self.overall.to_json(),
            "byVersion": {v: c.to_json() for v, c in sorted(self.by_version.items())},
            "until": self.until.strftime(RFC3339) if self.until else None,
            "conflictRule": CONFLICT_RULE,
        }


@dataclass(frozen=True)
class Compacted:
    reactions: list[Reaction]  # in acknowledged-time order
    summary: Summary


def _answer_key(record: ReactionRecord) -> tuple[str, ...]:
    """The answer a reaction is about: its dedupe_key without the reaction (dedupe_key ends with it)."""
    return record.dedupe_key[:-1]


def compact(records: Iterable[ReactionRecord], until: Optional[datetime] = None,
            versions: Optional[Collection[str]] = None) -> Compacted:
    """Deduplicated, conflict-resolved reactions in the reranker's format, with what was done."""
    read = after_cutoff = other_versions = 0
    answers: dict[tuple[str, ...], list[tuple[datetime, int, ReactionRecord]]] = defaultdict(list)
    for order, record in enumerate(records):
        read += 1
        if until is not None and record.time >= until:
            after_cutoff += 1
            continue
        if versions is not None and record.served_by.version not in versions:
            other_versions += 1
            continue
        answers[_answer_key(record)].append((record.time, order, record))
    duplicates = conflicts = 0
    kept: list[tuple[datetime, int, ReactionRecord]] = []
    for told in answers.values():
        distinct = {r.dedupe_key for _, _, r in told}
        duplicates += len(told) - len(distinct)
        conflicts += len(distinct) - 1
        kept.append(max(told, key=lambda item: (item[0], item[1])))
    kept.sort(key=lambda item: (item[0], item[1]))
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for _, _, r in kept:
        counts[r.served_by.version][0 if r.upvote else 1] += 1
    summary = Summary(read, after_cutoff, other_versions, duplicates, conflicts, 0,
                      {v: VersionCounts(up, down) for v, (up, down) in counts.items()}, until)
    reactions = [Reaction(r.context, r.response, r.upvote, USERS_SOURCE) for _, _, r in kept]
    return Compacted(reactions, summary)


def compact_dir(directory: Path, until: Optional[datetime] = None,
                versions: Optional[Collection[str]] = None) -> Compacted:
    """Compact every segment under a reactions directory (see segments.py)."""
    if not segments(directory):
        raise NoReactions(f"{directory}: no reaction segments (has the model been served and sent Feedback? "
                          "servers write <instance>.<opened>.<seq>.jsonl files there)")
    torn: list[int] = []
    records = read_reactions(directory, on_torn=lambda _path, size: torn.append(size))
    result = compact(records, until, versions)
    return Compacted(result.reactions, replace(result.summary, torn_lines_skipped=len(torn)))


def write_reactions(path: Path, compacted: Compacted) -> int:
    """The reactions as reranker `reactions` JSONL, written atomically; returns the count."""
    return write_records(path, compacted.reactions)


def format_summary(summary: Summary) -> str:
    """The summary as a table, for people: one row per served version, then the totals."""
    header = ["served version", "upvotes", "downvotes", "upvote ratio"]
    rows = [[v, str(c.upvotes), str(c.downvotes), f"{c.upvote_ratio:.3f}"] for v, c in sorted(summary.by_version.items())]
    total = summary.overall
    rows.append(["all", str(total.upvotes), str(total.downvotes), f"{total.upvote_ratio:.3f}"])
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    line = lambda r: "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip()  # noqa: E731
    cutoff = f" (acknowledged before {summary.until.strftime(RFC3339)})" if summary.until else ""
    return "\n".join([
        line(header), line(["-" * w for w in widths]), *(line(r) for r in rows), "",
        f"records read {summary.records_read}; after the cutoff {summary.after_cutoff}; other versions "
        f"{summary.other_versions}; duplicates dropped {summary.duplicates_dropped}; conflicts resolved "
        f"{summary.conflicts_resolved} ({CONFLICT_RULE}); torn lines skipped {summary.torn_lines_skipped}",
        f"{summary.reactions} reactions{cutoff}",
    ])
