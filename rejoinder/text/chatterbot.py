"""The chatterbot-corpus English conversations as dialog pairs and a candidate response set.

A real, small, human-written corpus (21 topic files, ~2k conversations) for demos and tests.
Each conversation [t0, t1, …, tk] gives pairs (context=[t0..ti-1], response=ti) for i ≥ 1;
the candidates are the distinct responses, with ids derived from their text so they are stable.
"""

from __future__ import annotations

import hashlib
import logging
from importlib import resources
from pathlib import Path
from typing import Iterator

from .formats import Candidate, DialogPair

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
    """(pairs, candidates) of the English corpus, in file order."""
    pairs: list[DialogPair] = []
    candidates: dict[str, Candidate] = {}
    for turns in conversations():
        for i in range(1, len(turns)):
            pairs.append(DialogPair(tuple(turns[:i]), turns[i], SOURCE))
            candidates.setdefault(turns[i], Candidate(candidate_id(turns[i]), turns[i], SOURCE))
    log.info("chatterbot corpus: %d pairs, %d distinct responses", len(pairs), len(candidates))
    return pairs, list(candidates.values())
