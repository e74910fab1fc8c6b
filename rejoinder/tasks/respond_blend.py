"""How Respond orders the retrieved candidates: the reranker's score blended with the retrieval
score, one rule for serving (modelserver/service.py) and evaluation (training/respond_eval.py).

Both scores are standardised within the list (z-scores: the reranker's logits and the cosine
similarities live on different scales), then mixed: weight 1 is the reranker alone, 0 the
retrieval order. The weight is chosen on dev lists by the reranker's evaluation and shipped in
its bundle manifest (`respond.blendWeight`); a reranker without one reranks alone.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

DEFAULT_WEIGHT = 1.0


def standardise(scores: Sequence[float]) -> np.ndarray:
    x = np.asarray(scores, dtype=np.float64)
    spread = x.std()
    return (x - x.mean()) / spread if spread > 0 else np.zeros_like(x)


def blended(reranker: Sequence[float], retrieval: Sequence[float], weight: float = DEFAULT_WEIGHT) -> np.ndarray:
    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"blend weight must be in [0, 1], got {weight}")
    if len(reranker) != len(retrieval):
        raise ValueError(f"{len(reranker)} reranker scores for {len(retrieval)} candidates")
    return weight * standardise(reranker) + (1.0 - weight) * standardise(retrieval)


def order(reranker: Sequence[float], retrieval: Sequence[float], weight: float = DEFAULT_WEIGHT) -> list[int]:
    """Candidate positions, best first; ties keep the retrieval order."""
    score = blended(reranker, retrieval, weight)
    return sorted(range(len(score)), key=lambda i: (-score[i], i))
