"""The BYU Chit-Chat Challenge corpus (PyPI `chitchat-dataset`, MIT): real conversations between
two people who met online, with their ratings of the session. Read offline from the JSON file
inside the installed package.

The file holds 7,168 conversations keyed by id: `messages` (a list of turn groups, each one
sender's consecutive messages), `ratings` ({interesting, witty, upbeat}, 1–10, on most), `prompt`
and `start`. What this importer does with them, every step counted in `counts()`:

- a turn is one sender's messages joined with a space, whitespace collapsed; empty messages are
  dropped and a turn left empty is skipped;
- a conversation with one sender (someone waiting alone) is no dialog: skipped here, but its
  messages are real user text and count for masked-LM pretraining (`messages`);
- turns longer than MAX_TURN_WORDS words are kept in conversations; presets.py bounds them
  (skipped as replies, their newest words kept in contexts);
- exact duplicate conversations (the same turns under two ids) are kept once, the copy with the
  smallest id, so one dialog can never sit on both sides of the split;
- the split is fixed by conversation id (base.split_by_id): test 10 %, dev 10 %, train 80 %.
"""

from __future__ import annotations

import hashlib
import json
import logging
from functools import cached_property
from importlib import metadata, resources
from pathlib import Path
from typing import Any, Iterator

from .base import Conversation, Corpus, Counts, Split

log = logging.getLogger(__name__)

SOURCE = "chitchat"
PACKAGE = "chitchat-dataset"
MODULE = "chitchat_dataset"
DATA_FILE = "dataset.json"
RATING_KEYS = ("interesting", "witty", "upbeat")


def data_file() -> Path:
    try:
        return Path(str(resources.files(MODULE) / DATA_FILE))
    except ModuleNotFoundError as e:
        raise RuntimeError(f"the {PACKAGE} package is not installed (it is in rejoinder's `text` extra; "
                           "run `make install`)") from e


def _turn_text(group: list[dict[str, Any]]) -> str:
    return " ".join(" ".join(str(m.get("text") or "").split()) for m in group).strip()


def parse(raw: dict[str, Any], counts: Counts) -> tuple[list[Conversation], list[tuple[str, list[str]]]]:
    """(two-person conversations sorted by id, monologues as (id, turns)) from the file's dict.
    Pure: the importer's rules in one place, testable on a few hand-written conversations."""
    dialogs: dict[tuple[str, ...], Conversation] = {}
    monologues: list[tuple[str, list[str]]] = []
    for conv_id in sorted(raw):
        conv = raw[conv_id]
        groups = conv.get("messages") or []
        senders = {m.get("sender") for group in groups for m in group}
        turns = []
        for group in groups:
            text = _turn_text(group)
            if text:
                turns.append(text)
            else:
                counts.skip("empty turns")
        if len(senders) < 2:
            counts.skip("one-sender conversations (kept as messages for pretraining)")
            monologues.append((conv_id, turns))
            continue
        if len(turns) < 2:
            counts.skip("conversations with fewer than 2 turns")
            continue
        key = tuple(turns)
        if key in dialogs:
            counts.skip("duplicate conversations")
            continue
        ratings = conv.get("ratings") or None
        if ratings is not None:
            ratings = {k: int(ratings[k]) for k in RATING_KEYS if k in ratings}
        dialogs[key] = Conversation(conv_id, key, ratings or None)
        counts.keep("conversations")
        counts.keep("turns", len(turns))
    return sorted(dialogs.values(), key=lambda c: c.id), monologues


class ChitChat(Corpus):
    name = "chitchat"
    source = SOURCE
    fixed_split = True

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or data_file()
        self._counts = Counts()

    @cached_property
    def _parsed(self) -> tuple[list[Conversation], list[tuple[str, list[str]]]]:
        raw = json.loads(self.path.read_text(encoding="utf-8"))
        parsed = parse(raw, self._counts)
        log.info("chitchat: %d two-person conversations, %d monologues; skipped %s",
                 len(parsed[0]), len(parsed[1]), self._counts.skipped)
        return parsed

    def conversations(self) -> Iterator[Conversation]:
        return iter(self._parsed[0])

    def messages(self, split: Split) -> Iterator[str]:
        yield from super().messages(split)
        for conv_id, turns in self._parsed[1]:
            if self.split_of(Conversation(conv_id, tuple(turns))) == split:
                yield from turns

    def counts(self) -> Counts:
        self._parsed  # noqa: B018 (reading fills the counts)
        return self._counts

    @cached_property
    def sha256(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()

    def provenance(self) -> dict[str, Any]:
        try:
            version = metadata.version(PACKAGE)
        except metadata.PackageNotFoundError:
            version = None
        return {"corpus": self.name, "package": PACKAGE, "version": version, "file": f"{MODULE}/{DATA_FILE}",
                "sha256": self.sha256, "license": "MIT",
                "split": "by conversation id: h = int(sha256(id).hexdigest()[:8], 16); "
                         "test if h % 10 == 0, dev if h % 10 == 1, else train"}
