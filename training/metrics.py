"""Evaluation metrics as pure numpy functions (no TensorFlow), so they are cheap to test and
identical for the trained model and the TF-IDF baseline.

Retrieval is scored like the seed: every held-out context ranks a fixed candidate pool; a
candidate is relevant when its text is one of the context's true responses (the same reply text
can answer several contexts, and a context can have several accepted replies).
"""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np

RECALL_KS = (1, 5, 20)


def rank_of_relevant(scores: np.ndarray, relevant: Sequence[Iterable[int]],
                     excluded: Sequence[Iterable[int]] | None = None) -> list[np.ndarray]:
    """For each query row, the 1-based ranks of its relevant candidates (sorted ascending).

    Ties are broken pessimistically (a relevant item ranks below every candidate with an equal
    score) so that a constant scorer cannot look good. `excluded[i]` are candidates row i may
    never be answered with (the no-parroting rule: the context's own turns): they rank nowhere,
    so they push nothing down, and an excluded relevant candidate gets rank inf (a miss).
    """
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 2:
        raise ValueError(f"scores must be (queries, candidates), got shape {scores.shape}")
    if len(relevant) != scores.shape[0]:
        raise ValueError(f"{len(relevant)} relevance sets for {scores.shape[0]} queries")
    if excluded is not None and len(excluded) != scores.shape[0]:
        raise ValueError(f"{len(excluded)} exclusion sets for {scores.shape[0]} queries")
    ranks = []
    for i, (row, rel) in enumerate(zip(scores, relevant)):
        rel_idx = np.asarray(sorted(set(int(j) for j in rel)), dtype=np.int64)
        if rel_idx.size == 0:
            raise ValueError("every query needs at least one relevant candidate")
        if rel_idx.min() < 0 or rel_idx.max() >= row.size:
            raise ValueError("relevant candidate index out of range")
        out = np.full(rel_idx.size, np.inf)
        gone = np.zeros(row.size, dtype=bool)
        if excluded is not None:
            ex = np.asarray(sorted(set(int(j) for j in excluded[i])), dtype=np.int64)
            gone[ex] = True
        keep = ~gone[rel_idx]
        rel_scores = row[rel_idx[keep]]
        # rank = 1 + number of other candidates scoring >= this one (excluded ones never do)
        higher_or_equal = ((row[None, :] >= rel_scores[:, None]) & ~gone[None, :]).sum(axis=1) - 1
        out[keep] = higher_or_equal + 1
        ranks.append(np.sort(out))
    return ranks


def average_precision(ranks: np.ndarray) -> float:
    """AP of one query from the sorted 1-based ranks of its relevant items (inf: unreachable)."""
    ranks = np.sort(np.asarray(ranks, dtype=np.float64))
    hits = np.arange(1, ranks.size + 1, dtype=np.float64)
    # each relevant item may share its pessimistic rank with a later one; keep precision <= 1
    return float(np.mean(np.minimum(hits / ranks, 1.0)))


MRR_CUTOFF = 20


def per_query_metrics(ranks: Sequence[np.ndarray], ks: Sequence[int] = RECALL_KS) -> dict[str, np.ndarray]:
    """Each metric's value per query (their means are the metrics; bootstrap_intervals resamples
    them): AP, recall@k (any relevant in the top k) and MRR@20 (1/rank of the best relevant
    candidate when it is in the top 20, else 0)."""
    best = np.array([r[0] for r in ranks], dtype=np.float64)
    out = {"map": np.array([average_precision(r) for r in ranks])}
    for k in ks:
        out[f"recall@{k}"] = (best <= k).astype(np.float64)
    out[f"mrr@{MRR_CUTOFF}"] = np.where(best <= MRR_CUTOFF, 1.0 / best, 0.0)
    return out


def mean_metrics(values: dict[str, np.ndarray]) -> dict[str, float]:
    return {k: float(np.mean(v)) for k, v in values.items()}


def retrieval_metrics(
    scores: np.ndarray, relevant: Sequence[Iterable[int]], ks: Sequence[int] = RECALL_KS,
    excluded: Sequence[Iterable[int]] | None = None,
) -> dict[str, float]:
    """mAP, recall@k (a query counts as a hit when any relevant candidate is in its top k) and MRR@20."""
    return mean_metrics(per_query_metrics(rank_of_relevant(scores, relevant, excluded), ks))


def bootstrap_intervals(values: dict[str, np.ndarray], resamples: int = 1000, confidence: float = 0.95,
                        seed: int = 0) -> dict[str, list[float]]:
    """Percentile bootstrap interval of each metric's mean over queries (queries resampled with
    replacement, the same resamples for every metric). Pass the per-query differences of two
    rankers of the same queries (model − start) to get the interval of the gain: it excludes 0
    when the gain is more than resampling noise."""
    names = list(values)
    if not names:
        return {}
    n = len(values[names[0]])
    if n == 0:
        raise ValueError("no queries to resample")
    rng = np.random.default_rng(seed)
    means = {k: np.empty(resamples) for k in names}
    for start in range(0, resamples, 100):  # bounded memory: 100 resamples of n indices at a time
        stop = min(start + 100, resamples)
        idx = rng.integers(0, n, size=(stop - start, n))
        for k in names:
            means[k][start:stop] = np.asarray(values[k], dtype=np.float64)[idx].mean(axis=1)
    tail = (1.0 - confidence) / 2 * 100
    return {k: [float(np.percentile(m, tail)), float(np.percentile(m, 100 - tail))] for k, m in means.items()}


def random_retrieval_metrics(
    num_candidates: int, relevant: Sequence[Iterable[int]], ks: Sequence[int] = RECALL_KS
) -> dict[str, float]:
    """Expected recall@k of a scorer that ranks candidates uniformly at random (a reference line)."""
    out = {}
    sizes = np.array([len(set(r)) for r in relevant], dtype=np.float64)
    n = float(num_candidates)
    for k in ks:
        # P(at least one of m relevant items among k random picks out of n)
        p_miss = np.ones_like(sizes)
        for j in range(min(k, int(n))):
            p_miss *= np.clip((n - sizes - j) / (n - j), 0.0, 1.0)
        out[f"recall@{k}"] = float(np.mean(1.0 - p_miss))
    return out


def roc_auc(labels: np.ndarray, probabilities: np.ndarray) -> float:
    """ROC-AUC (scikit-learn); undefined when the labels hold one class only: a NaN-free 0.5 then."""
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(labels, probabilities)) if len(np.unique(labels)) == 2 else 0.5


def binary_metrics(labels: np.ndarray, probabilities: np.ndarray, threshold: float = 0.5) -> dict[str, float]:
    """Accuracy at a threshold and ROC-AUC (scikit-learn) of binary predictions."""
    labels = np.asarray(labels).astype(np.int64).reshape(-1)
    probabilities = np.asarray(probabilities, dtype=np.float64).reshape(-1)
    if labels.shape != probabilities.shape:
        raise ValueError(f"{labels.size} labels for {probabilities.size} predictions")
    if labels.size == 0:
        raise ValueError("no examples to evaluate")
    return {"accuracy": float(np.mean((probabilities >= threshold).astype(np.int64) == labels)),
            "roc_auc": roc_auc(labels, probabilities)}


def masked_lm_accuracy(predictions: np.ndarray, targets: np.ndarray, weights: np.ndarray) -> float:
    """Share of masked positions whose argmax prediction equals the original token."""
    weights = np.asarray(weights, dtype=np.float64)
    total = weights.sum()
    if total <= 0:
        raise ValueError("no masked positions to evaluate")
    return float(((np.asarray(predictions) == np.asarray(targets)) * weights).sum() / total)
