"""Proxy reactions mined from a trained retrieval DialogModel (`data.negativesFrom`).

The retrieval model's own export ranks its own candidate pool for each context of its own
prepared data; its wrong top candidates become downvotes: for training, each reply downvoted with
the contexts it is wrongly ranked highest for (datasets.proxy.reply_balanced_reactions); for
evaluation, each held-out context with its wrong top candidates (hard_negative_reactions).
Its train/eval split is kept as it is, so the reranker is never trained on a context the
retrieval model held out, and Respond vs Retrieve can be compared on those held-out contexts.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from rejoinder.text.formats import Candidate, DialogPair, RecordKind, read_records

from rejoinder.datasets.proxy import hard_negative_reactions, replies_by_context, reply_balanced_reactions

log = logging.getLogger(__name__)

DEFAULT_TOP_K = 20  # ServingSpec.top_k's default, for exports whose manifest has no spec


@dataclass(frozen=True)
class RetrievalSource:
    """What a trained retrieval version offers to mine from."""

    export_dir: Path
    train: list[DialogPair]
    held: list[DialogPair]
    test: Optional[list[DialogPair]]  # the corpus's fixed test split, when it has one
    candidates: list[Candidate]
    top_k: int
    version: str

    @classmethod
    def from_export(cls, export_dir: Path) -> "RetrievalSource":
        manifest = json.loads((export_dir / "manifest.json").read_text(encoding="utf-8"))
        if manifest.get("task") != "retrieval":
            raise ValueError(f"data.negativesFrom: {export_dir} is a {manifest.get('task')} model, not retrieval")
        data = export_dir.parent / "data"
        read = lambda name, kind: list(read_records(data / name, kind))  # noqa: E731
        top_k = ((manifest.get("spec") or {}).get("serving") or {}).get("topK", DEFAULT_TOP_K)
        test = read("test.jsonl", RecordKind.pairs) if (data / "test.jsonl").is_file() else None
        return cls(export_dir, read("train.jsonl", RecordKind.pairs), read("eval.jsonl", RecordKind.pairs), test,
                   read("candidates.jsonl", RecordKind.candidates), int(top_k), str(manifest.get("version", "")))


def rank_candidates(export_dir: Path, contexts: Sequence[Sequence[str]], texts: Sequence[str], top_k: int) -> list[list[str]]:
    """The top_k candidate texts per context by the export's exact cosine scores, best first
    (what a flat index returns; an approximate index differs only where its recall does)."""
    from rejoinder.models.bundle import load_bundle

    bundle = load_bundle(export_dir)
    pool = bundle.encode_responses(list(texts))
    queries = bundle.encode_contexts([list(c) for c in contexts])
    k = min(top_k, len(texts))
    out: list[list[str]] = []
    for start in range(0, len(queries), 1024):  # bounded score matrix
        scores = queries[start:start + 1024] @ pool.T
        top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        out.extend([texts[j] for j in row] for row in top)
    return out


def mine(source: RetrievalSource, per_context: int, seed: int = 0) -> tuple[list, list, Optional[list]]:
    """(train, eval, test or None) proxy reactions from the retrieval model's own split."""
    test = source.test or []
    pairs = [*source.train, *source.held, *test]
    texts = [c.text for c in source.candidates]
    log.info("mining hard negatives for %d contexts against %d candidates (top %d) with %s",
             len(pairs), len(texts), source.top_k, source.export_dir)
    ranked = rank_candidates(source.export_dir, [p.context for p in pairs], texts, source.top_k)
    known = replies_by_context(pairs)
    n = len(source.train)
    # A held-out reply is never a training downvote: near-duplicate contexts would teach the
    # reranker that the held-out answer is wrong (the QA-LSTM reranker scored held-out AUC 0.25,
    # inverted, when they were).
    held_out = frozenset({p.response for p in [*source.held, *test]} - {p.response for p in source.train})
    m = n + len(source.held)
    # Training is reply-balanced (a reply's text alone must not predict its label); evaluation
    # is per context, the lists Respond reorders.
    return (reply_balanced_reactions(source.train, ranked[:n], per_context, known, never=held_out, seed=seed),
            hard_negative_reactions(source.held, ranked[n:m], per_context, known),
            hard_negative_reactions(test, ranked[m:], per_context, known) if source.test is not None else None)
