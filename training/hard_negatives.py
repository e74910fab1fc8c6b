"""Proxy reactions mined from a trained retrieval DialogModel (`data.negativesFrom`).

The retrieval model ranks its own candidate pool for contexts of its own prepared data exactly as
its server would (its index when one is built, else an exact search over its encoded pool; the
no-parroting rule applied), and its wrong top candidates become downvotes: for training, each
reply downvoted with the contexts it is wrongly ranked highest for
(datasets.proxy.reply_balanced_reactions), over a seeded sample of `data.negativesContexts`
training contexts; for evaluation, each held-out context with its wrong top candidates
(hard_negative_reactions). Its train/dev/test split is kept as it is, so the reranker is never
trained on a context the retrieval model held out.

For held-out contexts the whole served top-k list is kept too (`RankedList`, up to
EVAL_LISTS per split): what Respond reorders, so reranking is judged as Respond against
Retrieve on the same lists (training/respond_eval.py).
"""

from __future__ import annotations

import json
import logging
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

from rejoinder.datasets.proxy import hard_negative_reactions, replies_by_context, reply_balanced_reactions
from rejoinder.text.formats import Candidate, DialogPair, RecordKind, read_records

log = logging.getLogger(__name__)

DEFAULT_TOP_K = 20  # ServingSpec.top_k's default, for exports whose manifest has no spec
# Held-out contexts per split whose whole top-k list is kept for the Respond evaluation: a
# cross-encoder scores k pairs per context, so this bounds its cost (2,000 × 20 pairs).
EVAL_LISTS = 2000
SEARCH_CHUNK = 256  # contexts per encode + search call


@dataclass(frozen=True)
class RankedList:
    """One held-out context, the retrieval model's top-k for it (best first) and their scores."""

    context: tuple[str, ...]
    response: str  # the true reply
    candidates: list[str]
    scores: list[float]

    def to_json(self) -> dict[str, Any]:
        return {"context": list(self.context), "response": self.response, "candidates": self.candidates,
                "scores": [round(float(s), 6) for s in self.scores]}

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> "RankedList":
        return cls(tuple(obj["context"]), obj["response"], list(obj["candidates"]), [float(s) for s in obj["scores"]])


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

    def index_dir(self) -> Optional[Path]:
        """The newest index built for this version (versions/<v>/index/<i>/index.json), if any."""
        built = sorted((self.export_dir.parent / "index").glob("*/index.json"), key=lambda p: p.stat().st_mtime)
        return built[-1].parent if built else None


def _runtime(source: RetrievalSource) -> Any:
    """The retrieval model as served: bundle + index (its own, or an exact one over its pool)."""
    from rejoinder.models.bundle import load_bundle
    from rejoinder.modelserver.index import IndexParams, LoadedIndex, build
    from rejoinder.modelserver.runtime import ServingRuntime

    bundle = load_bundle(source.export_dir)
    where = source.index_dir()
    if where is not None:
        index = LoadedIndex.load(where)
        log.info("ranking with %s's index %s (%d candidates)", source.version, where, index.size)
    else:
        texts = [c.text for c in source.candidates]
        log.info("no index built for %s: encoding its %d candidates for an exact search", source.version, len(texts))
        faiss_index, params = build(bundle.encode_responses(texts), IndexParams())
        index = LoadedIndex(faiss_index, [c.id for c in source.candidates], texts, {}, params, source.export_dir)
    return ServingRuntime(bundle, "retrieval", index=index)


def rank_contexts(runtime: Any, contexts: Sequence[Sequence[str]], top_k: int) -> list[tuple[list[str], list[float]]]:
    """Each context's served top_k (texts, scores), best first, never one of its own turns."""
    from tqdm import tqdm

    out: list[tuple[list[str], list[float]]] = []
    for start in tqdm(range(0, len(contexts), SEARCH_CHUNK), desc="rank", unit="chunk", leave=False):
        hits = runtime.retrieve_batch([(list(c), top_k) for c in contexts[start:start + SEARCH_CHUNK]])
        out.extend(([runtime.index.texts[h.row] for h in row], [h.score for h in row]) for row in hits)
    return out


def sample(pairs: Sequence[DialogPair], limit: int, seed: int) -> list[DialogPair]:
    """A seeded sample of at most `limit` pairs, in their original order."""
    if len(pairs) <= limit:
        return list(pairs)
    keep = sorted(random.Random(seed).sample(range(len(pairs)), limit))
    return [pairs[i] for i in keep]


@dataclass
class Mined:
    train: list
    held: list
    test: Optional[list]
    lists: dict[str, list[RankedList]]  # "eval" (dev) and "test": the held-out top-k lists


def mine(source: RetrievalSource, per_context: int, seed: int = 0, train_contexts: int = 20_000,
         eval_lists: int = EVAL_LISTS) -> Mined:
    """Proxy reactions (train, eval, test or None) and the held-out top-k lists."""
    train = sample(source.train, train_contexts, seed)
    held = sample(source.held, eval_lists, seed + 1)
    test = sample(source.test, eval_lists, seed + 2) if source.test is not None else []
    pairs = [*train, *held, *test]
    log.info("mining hard negatives: %d training contexts (of %d), %d dev, %d test, top %d of %d candidates, with %s",
             len(train), len(source.train), len(held), len(test), source.top_k, len(source.candidates), source.export_dir)
    ranked = rank_contexts(_runtime(source), [p.context for p in pairs], source.top_k)
    texts = [r[0] for r in ranked]
    known = replies_by_context([*source.train, *source.held, *(source.test or [])])
    n, m = len(train), len(train) + len(held)
    # A held-out reply is never a training downvote: near-duplicate contexts would teach the
    # reranker that the held-out answer is wrong (the QA-LSTM reranker scored held-out AUC 0.25,
    # inverted, when they were).
    held_out = frozenset({p.response for p in [*source.held, *(source.test or [])]} - {p.response for p in source.train})
    lists = {"eval": [RankedList(p.context, p.response, *ranked[n + i]) for i, p in enumerate(held)]}
    if source.test is not None:
        lists["test"] = [RankedList(p.context, p.response, *ranked[m + i]) for i, p in enumerate(test)]
    # Training is reply-balanced (a reply's text alone must not predict its label); evaluation
    # is per context, the lists Respond reorders.
    return Mined(reply_balanced_reactions(train, texts[:n], per_context, known, never=held_out, seed=seed),
                 hard_negative_reactions(held, texts[n:m], per_context, known),
                 hard_negative_reactions(test, texts[m:], per_context, known) if source.test is not None else None,
                 lists)
