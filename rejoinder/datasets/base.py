"""What every corpus gives the rest of rejoinder: conversations, their split, and where they came from.

A corpus is one file in this package (chatterbot.py, chitchat.py, …) with a `Corpus` subclass;
presets.py shapes any corpus into each task's records, so a new corpus is one new file plus its
name in `CORPORA` (rejoinder/datasets/__init__.py).

Splits. A corpus with a fixed split (chitchat) assigns every conversation to train, dev or test
by its id, the same everywhere; nothing trains on test, and choices (recipes, thresholds,
stopping points, quality gates) are made on dev. A corpus without one (chatterbot, the tiny
test corpus) is hash-split into train and dev by `data.evalFraction`, as it always was.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Iterator, Mapping, Optional


class Split(str, Enum):
    train = "train"
    dev = "dev"
    test = "test"


def split_by_id(conversation_id: str) -> Split:
    """The fixed split of a corpus keyed by conversation id (the issue's rule, verbatim):
    h = int(sha256(id).hexdigest()[:8], 16); test if h % 10 == 0, dev if h % 10 == 1."""
    h = int(hashlib.sha256(conversation_id.encode()).hexdigest()[:8], 16)
    return Split.test if h % 10 == 0 else Split.dev if h % 10 == 1 else Split.train


@dataclass(frozen=True)
class Conversation:
    """One dialog between two people: turns alternate speakers (a turn is one speaker's
    consecutive messages joined), oldest first."""

    id: str
    turns: tuple[str, ...]
    ratings: Optional[Mapping[str, int]] = None  # the participants' ratings of the session, if any


@dataclass
class Counts:
    """What an import kept and skipped, for data.json and the importer's report."""

    kept: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)

    def keep(self, what: str, n: int = 1) -> None:
        self.kept[what] = self.kept.get(what, 0) + n

    def skip(self, why: str, n: int = 1) -> None:
        self.skipped[why] = self.skipped.get(why, 0) + n

    def to_json(self) -> dict[str, Any]:
        return {"kept": dict(sorted(self.kept.items())), "skipped": dict(sorted(self.skipped.items()))}


class Corpus(ABC):
    """A dialog corpus read offline from an installed package."""

    name: str
    source: str  # every record's `source` field
    fixed_split: bool  # conversations split by id into train/dev/test; else pairs hash-split by evalFraction

    @abstractmethod
    def conversations(self) -> Iterator[Conversation]:
        """Every two-person conversation, in a stable order."""

    def split_of(self, conversation: Conversation) -> Split:
        if not self.fixed_split:
            raise ValueError(f"the {self.name} corpus has no fixed split (it is hash-split by data.evalFraction)")
        return split_by_id(conversation.id)

    def messages(self, split: Split) -> Iterator[str]:
        """Every message people wrote in the split's conversations (masked-LM pretraining);
        corpora with monologues (one-sender conversations) add theirs."""
        for conversation in self.conversations():
            if not self.fixed_split or self.split_of(conversation) == split:
                yield from conversation.turns

    @abstractmethod
    def provenance(self) -> dict[str, Any]:
        """Where the data came from (package, version, file, sha256, licence) and the split rule."""

    def counts(self) -> Counts:
        """What reading the corpus kept and skipped (after conversations() was consumed once)."""
        return Counts()
