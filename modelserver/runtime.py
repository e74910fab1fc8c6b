"""What the server computes, batch by batch: the loaded bundle(s) and index behind the batchifiers.

Every function here is synchronous and takes a whole batch. The bundles were loaded with
`max_batch_size` = the server's (the bundle's batch shapes are powers of two up to it) and the sequence buckets:
they pad every call to one batch size × the bucket of its longest row, so XLA compiles each
(batch size, sequence length) once in `warm_up` and never while serving.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any, Optional, Sequence

import numpy as np

from rejoinder.api.spec import Task
from rejoinder.models.shapes import SequenceBuckets
from rejoinder.text import echo
from rejoinder.tasks import METHOD_ORDER, MODEL_INFO, RERANK, RESPOND, RETRIEVE, SCORE_SESSION, TaskDefinition, task_module

from .index import LoadedIndex

log = logging.getLogger(__name__)

__all__ = ["MODEL_INFO", "RERANK", "RESPOND", "RETRIEVE", "SCORE_SESSION", "Hit", "ServingRuntime"]


@dataclass(frozen=True)
class Hit:
    row: int
    score: float


@dataclass
class ServingRuntime:
    """A loaded model bundle (+ index for retrieval, + optional reranker bundle)."""

    bundle: Any  # rejoinder.models.bundle.ModelBundle
    task: Task
    index: Optional[LoadedIndex] = None
    reranker: Optional[Any] = None  # a reranking ModelBundle that Respond (and Rerank) use

    @property
    def shapes(self) -> tuple[int, ...]:
        return tuple(self.bundle.batch_sizes)

    def __post_init__(self) -> None:
        self.task = Task(self.task)
        if self.definition.builds_index and self.index is None:
            raise ValueError(f"a {self.task} model is served with its index: pass the index directory")
        # The no-parroting rule (rejoinder.text.echo): which index rows repeat a given turn.
        self._echo_keys = echo.keys_of(self.index.texts) if self.index is not None else {}

    @property
    def definition(self) -> TaskDefinition:
        return task_module(self.task)

    # --- what this server can answer ---------------------------------------------------------

    @property
    def pair_scorer(self) -> Optional[Any]:
        """The bundle that scores (context, response) pairs: the model itself or the reranker."""
        return self.bundle if self.definition.scores_pairs else self.reranker

    @property
    def methods(self) -> list[str]:
        """The task's own methods, Rerank when something scores pairs, and ModelInfo."""
        served = {*self.definition.methods, MODEL_INFO}
        if self.pair_scorer is not None:
            served.add(RERANK)
        return [m for m in METHOD_ORDER if m in served]

    # --- lengths (what the batchifiers group and budget by) ------------------------------------

    def _input(self, method: str) -> tuple[Any, str]:
        if method == RETRIEVE:
            return self.bundle, "context"
        if method == RERANK:
            return self.pair_scorer, "pair"
        if method == SCORE_SESSION:
            return self.bundle, "session"
        raise ValueError(f"{method} has no batched model input")

    def sequence_buckets(self, method: str) -> SequenceBuckets:
        bundle, kind = self._input(method)
        return bundle.sequence_buckets(kind)

    def lengths(self, method: str, *items: Any) -> np.ndarray:
        """Tokens of each row one request of `method` puts into a batch."""
        bundle, kind = self._input(method)
        return bundle.lengths(kind, *items)

    @property
    def compiled_shapes(self) -> int:
        """(batch size, sequence length) shapes warm-up compiles, over every served input kind."""
        bundles = [self.bundle] + ([self.reranker] if self.reranker is not None else [])
        return sum(len(shapes) for b in bundles for shapes in b.shapes.values())

    # --- batch functions (called by the batchifiers in their worker threads) ------------------

    def retrieve_batch(self, payloads: list[tuple[list[str], int]]) -> list[list[Hit]]:
        """[(context turns, k)] → the top-k hits of each, best first, never one of the context's
        own turns (the no-parroting rule): the search asks for as many more rows as the index
        holds echoes of the request's turns, so k answers remain."""
        assert self.index is not None
        embeddings = self.bundle.encode_contexts([turns for turns, _ in payloads])
        excluded = [set(echo.echo_indices(turns, self._echo_keys)) for turns, _ in payloads]
        k = min(max(k + len(ex) for (_, k), ex in zip(payloads, excluded)), self.index.size)
        scores, rows = self.index.search(embeddings, k)
        out = []
        for i, (_, kk) in enumerate(payloads):
            hits = [Hit(int(r), float(s)) for r, s in zip(rows[i], scores[i]) if r >= 0 and int(r) not in excluded[i]]
            out.append(hits[:kk])
        return out

    def rerank_batch(self, payloads: list[tuple[list[str], list[str]]]) -> list[np.ndarray]:
        """[(context turns, responses)] → one score array per request, in response order."""
        scorer = self.pair_scorer
        assert scorer is not None
        contexts = [turns for turns, responses in payloads for _ in responses]
        scores = np.asarray(scorer.score_pairs(contexts, [r for _, rs in payloads for r in rs])).reshape(-1)
        out, start = [], 0
        for _, responses in payloads:
            out.append(scores[start : start + len(responses)])
            start += len(responses)
        return out

    def score_sessions_batch(self, sessions: list[list[str]]) -> list[float]:
        return [float(s) for s in np.asarray(self.bundle.score_sessions(sessions)).reshape(-1)]

    # --- warm-up ----------------------------------------------------------------------------

    def warm_up(self) -> float:
        """Compile every served input kind at every (batch size, sequence bucket) (XLA compiles
        here, not under load), then run each served path once end to end."""
        started = time.perf_counter()
        self.bundle.warmup()
        if self.reranker is not None:
            self.reranker.warmup()
        turns = ["warm up", "the model"]
        methods = self.methods
        if RETRIEVE in methods:
            for shape in self.shapes:
                self.retrieve_batch([(turns, 1)] * shape)
        if RERANK in methods:
            self.rerank_batch([(turns, ["a response"])])
        if SCORE_SESSION in methods:
            self.score_sessions_batch([turns])
        seconds = time.perf_counter() - started
        log.info(
            "warmed up %d shapes (batch sizes %s × sequence buckets %s) in %.1f s", self.compiled_shapes,
            list(self.shapes), {k: list(self.bundle.sequence_buckets(k).lengths) for k in self.bundle.kinds}, seconds,
        )
        return seconds
