"""The int8 quality gate: int8 serves only where it keeps float32's retrieval quality.

On held-out (context, reply) pairs, with the pool of held-out replies as candidates:

- embedding cosine, int8 vs float32, mean over every context and reply embedding: ≥ MIN_COSINE;
- recall@20 and MRR@20 of int8 inside the 95 % bootstrap interval of float32's (pairs
  resampled with replacement, BOOTSTRAP rounds, a fixed seed).

Pure numpy: the embeddings come in, a `GateResult` (what the manifest records) comes out.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Optional

import numpy as np

MIN_COSINE = 0.99
K = 20
BOOTSTRAP = 1000
SEED = 0


def row_cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
    b = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
    return np.sum(a * b, axis=1)


def ranks_of_targets(contexts: np.ndarray, replies: np.ndarray) -> np.ndarray:
    """Rank (1 = best) of each context's own reply (row i ↔ reply i) among all replies."""
    scores = contexts @ replies.T
    own = np.diag(scores)[:, None]
    return 1 + np.sum(scores > own, axis=1)


def per_query(contexts: np.ndarray, replies: np.ndarray, k: int = K) -> tuple[np.ndarray, np.ndarray]:
    """(hit@k, reciprocal rank cut at k) per query."""
    ranks = ranks_of_targets(contexts, replies)
    return (ranks <= k).astype(np.float64), np.where(ranks <= k, 1.0 / ranks, 0.0)


def bootstrap_interval(values: np.ndarray, rounds: int = BOOTSTRAP, seed: int = SEED) -> tuple[float, float]:
    """95 % percentile interval of the mean of `values`."""
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, len(values), size=(rounds, len(values)))].mean(axis=1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


@dataclass(frozen=True)
class MetricCheck:
    float32: float
    int8: float
    low: float
    high: float

    @property
    def inside(self) -> bool:
        return self.low <= self.int8 <= self.high


@dataclass(frozen=True)
class GateResult:
    passed: bool
    reason: str
    pairs: int
    cosine_mean: float
    cosine_p1: float
    recall_at_20: Optional[MetricCheck]
    mrr_at_20: Optional[MetricCheck]

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        for key in ("recall_at_20", "mrr_at_20"):
            check = getattr(self, key)
            if check is not None:
                out[key] = {k: round(v, 6) for k, v in asdict(check).items()}
        out["cosine_mean"], out["cosine_p1"] = round(self.cosine_mean, 6), round(self.cosine_p1, 6)
        out["minCosine"], out["k"], out["bootstrap"] = MIN_COSINE, K, BOOTSTRAP
        return {_camel(k): v for k, v in out.items()}


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(w.title() for w in rest)


def cosine_only(float32: np.ndarray, int8: np.ndarray) -> tuple[float, float]:
    """(mean, 1st percentile) cosine between matching rows."""
    cos = row_cosine(float32, int8)
    return float(cos.mean()), float(np.percentile(cos, 1))


def judge(f32_contexts: np.ndarray, f32_replies: np.ndarray, i8_contexts: np.ndarray, i8_replies: np.ndarray) -> GateResult:
    """The gate on paired embeddings (row i of contexts answered by row i of replies)."""
    if len(f32_contexts) != len(f32_replies) or len(f32_contexts) == 0:
        raise ValueError("the gate needs the same positive number of contexts and replies")
    mean, p1 = cosine_only(np.concatenate([f32_contexts, f32_replies]), np.concatenate([i8_contexts, i8_replies]))
    hit32, rr32 = per_query(f32_contexts, f32_replies)
    hit8, rr8 = per_query(i8_contexts, i8_replies)
    recall = MetricCheck(float(hit32.mean()), float(hit8.mean()), *bootstrap_interval(hit32))
    mrr = MetricCheck(float(rr32.mean()), float(rr8.mean()), *bootstrap_interval(rr32))
    failures = []
    if mean < MIN_COSINE:
        failures.append(f"embedding cosine to float32 {mean:.4f} < {MIN_COSINE}")
    for label, check in (("recall@20", recall), ("MRR@20", mrr)):
        if not check.inside:
            failures.append(f"{label} {check.int8:.4f} outside float32's 95% interval [{check.low:.4f}, {check.high:.4f}]")
    reason = "; ".join(failures) if failures else (
        f"cosine {mean:.4f} ≥ {MIN_COSINE}; recall@20 {recall.int8:.4f} and MRR@20 {mrr.int8:.4f} inside float32's intervals")
    return GateResult(not failures, reason, len(f32_contexts), mean, p1, recall, mrr)
