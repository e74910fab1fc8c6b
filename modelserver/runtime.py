"""What the server computes, batch by batch: the loaded bundle(s) and index behind the batchifiers.

Every function here is synchronous, takes a whole batch and runs on fixed batch shapes
(`shapes.run_in_shapes`), so XLA compiles each shape once in `warm_up` and never while serving.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

import numpy as np

from .index import LoadedIndex
from .shapes import batch_shapes, run_in_shapes

log = logging.getLogger(__name__)

RETRIEVE = "Retrieve"
RERANK = "Rerank"
SCORE_SESSION = "ScoreSession"
RESPOND = "Respond"
MODEL_INFO = "ModelInfo"


@dataclass(frozen=True)
class Hit:
    row: int
    score: float


@dataclass
class Runtime:
    """A loaded model bundle (+ index for retrieval, + optional reranker bundle)."""

    bundle: Any  # rejoinder.models.bundle: encode_contexts / encode_responses / score_pairs / score_sessions
    task: str
    index: Optional[LoadedIndex] = None
    reranker: Optional[Any] = None  # a reranking bundle that Respond (and Rerank) use
    max_batch_size: int = 32
    shapes: tuple[int, ...] = field(init=False)

    def __post_init__(self) -> None:
        self.shapes = batch_shapes(self.max_batch_size)
        if self.task == "retrieval" and self.index is None:
            raise ValueError("a retrieval model is served with its index: pass the index directory")

    # --- what this server can answer ---------------------------------------------------------

    @property
    def pair_scorer(self) -> Optional[Any]:
        """The bundle that scores (context, response) pairs: the model itself or the reranker."""
        if self.task == "reranking":
            return self.bundle
        return self.reranker

    @property
    def methods(self) -> list[str]:
        out = []
        if self.task == "retrieval":
            out += [RETRIEVE, RESPOND]
        if self.pair_scorer is not None:
            out.append(RERANK)
        if self.task == "session-scoring":
            out.append(SCORE_SESSION)
        return out + [MODEL_INFO]

    # --- batch functions (called by the batchifiers in their worker threads) ------------------

    def encode_contexts(self, contexts: Sequence[Sequence[str]]) -> np.ndarray:
        return run_in_shapes(lambda batch: self.bundle.encode_contexts(batch), list(contexts), self.shapes)

    def retrieve_batch(self, payloads: list[tuple[list[str], int]]) -> list[list[Hit]]:
        """[(context turns, k)] → the top-k hits of each, best first."""
        assert self.index is not None
        embeddings = self.encode_contexts([turns for turns, _ in payloads])
        k = max(k for _, k in payloads)
        scores, rows = self.index.search(embeddings, k)
        return [
            [Hit(int(r), float(s)) for r, s in zip(rows[i, :kk], scores[i, :kk]) if r >= 0]
            for i, (_, kk) in enumerate(payloads)
        ]

    def rerank_batch(self, payloads: list[tuple[list[str], list[str]]]) -> list[np.ndarray]:
        """[(context turns, responses)] → one score array per request, in response order."""
        scorer = self.pair_scorer
        assert scorer is not None
        pairs = [(turns, response) for turns, responses in payloads for response in responses]
        scores = run_in_shapes(
            lambda batch: scorer.score_pairs([c for c, _ in batch], [r for _, r in batch]), pairs, self.shapes
        ).reshape(-1)
        out, start = [], 0
        for _, responses in payloads:
            out.append(scores[start : start + len(responses)])
            start += len(responses)
        return out

    def score_sessions_batch(self, sessions: list[list[str]]) -> list[float]:
        scores = run_in_shapes(lambda batch: self.bundle.score_sessions(batch), sessions, self.shapes)
        return [float(s) for s in np.asarray(scores).reshape(-1)]

    # --- warm-up ----------------------------------------------------------------------------

    def warm_up(self) -> float:
        """Run every served function at every batch shape (XLA compiles here, not under load)."""
        started = time.perf_counter()
        turns = ["warm up", "the model"]
        for shape in self.shapes:
            if self.task == "retrieval":
                self.retrieve_batch([(turns, 1)] * shape)
            if self.pair_scorer is not None:
                self.rerank_batch([(turns, ["a response"] * shape)])
            if self.task == "session-scoring":
                self.score_sessions_batch([turns] * shape)
            log.info("warmed up batch shape %d", shape)
        return time.perf_counter() - started
