"""The chatterbot-corpus English conversations as dialog pairs and a candidate response set.

A real, small, human-written corpus (21 topic files, ~2k conversations) for demos and tests.
Each conversation [t0, t1, …, tk] gives pairs (context=[t0..ti-1], response=ti) for i ≥ 1;
the candidates are the distinct responses, with ids derived from their text so they are stable.
"""

from __future__ import annotations

import hashlib
import logging
from importlib import metadata, resources
from pathlib import Path
from typing import Any, Iterator

from ..text.formats import Candidate, DialogPair
from .base import Conversation, Corpus

log = logging.getLogger(__name__)

SOURCE = "chatterbot"


def english_files() -> list[Path]:
    try:
        root = resources.files("chatterbot_corpus") / "data" / "english"
    except ModuleNotFoundError as e:
        raise RuntimeError("the chatterbot-corpus package is not installed (pip install 'rejoinder[text]')") from e
    return sorted(Path(str(p)) for p in root.iterdir() if p.name.endswith(".yml"))


def conversations() -> Iterator[list[str]]:
    """Every English conversation as a list of turns (non-text items become text)."""
    import yaml

    for path in english_files():
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for conv in doc.get("conversations", []):
            turns = [" ".join(str(t).split()) for t in conv if t is not None]
            turns = [t for t in turns if t]
            if len(turns) >= 2:
                yield turns


def candidate_id(text: str) -> str:
    return "cb-" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def load_corpus() -> tuple[list[DialogPair], list[Candidate]]:
    """(pairs, candidates) of the English corpus, in file order, each distinct pair once.

    The corpus repeats some conversations verbatim (one computers.yml exchange ~120 times).
    Identical pairs hash identically, so a hash split holds such a block out (or in) whole: it
    made held-out sizes swing 212-416 across seeds, one reply weigh up to 29 R@1 points, and a
    few pairs fill a fifth of training. Hence one copy each."""
    pairs: dict[tuple[tuple[str, ...], str], DialogPair] = {}
    candidates: dict[str, Candidate] = {}
    repeated = 0
    for turns in conversations():
        for i in range(1, len(turns)):
            key = (tuple(turns[:i]), turns[i])
            if key in pairs:
                repeated += 1
                continue
            pairs[key] = DialogPair(key[0], key[1], SOURCE)
            candidates.setdefault(turns[i], Candidate(candidate_id(turns[i]), turns[i], SOURCE))
    log.info("chatterbot corpus: %d distinct pairs (%d repeats dropped), %d distinct responses",
             len(pairs), repeated, len(candidates))
    return list(pairs.values()), list(candidates.values())


class Chatterbot(Corpus):
    """The corpus behind the `chatterbot` preset: no fixed split (pairs are hash-split by
    data.evalFraction) and no ratings."""

    name = "chatterbot"
    source = SOURCE
    fixed_split = False

    def conversations(self) -> Iterator[Conversation]:
        for number, turns in enumerate(conversations()):
            yield Conversation(f"cb-{number}", tuple(turns))

    def provenance(self) -> dict[str, Any]:
        try:
            version = metadata.version("chatterbot-corpus")
        except metadata.PackageNotFoundError:
            version = None
        return {"corpus": self.name, "package": "chatterbot-corpus", "version": version,
                "file": "chatterbot_corpus/data/english/*.yml", "license": "BSD-3-Clause",
                "split": "pairs hash-split by context and seed (data.evalFraction)"}
