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


def rank_of_relevant(scores: np.ndarray, relevant: Sequence[Iterable[int]]) -> list[np.ndarray]:
    """For each query row, the 1-based ranks of its relevant candidates (sorted ascending).

    Ties are broken pessimistically (a relevant item ranks below every candidate with an equal
    score) so that a constant scorer cannot look good.
    """
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 2:
        raise ValueError(f"scores must be (queries, candidates), got shape {scores.shape}")
    if len(relevant) != scores.shape[0]:
        raise ValueError(f"{len(relevant)} relevance sets for {scores.shape[0]} queries")
    ranks = []
    for row, rel in zip(scores, relevant):
        rel_idx = np.asarray(sorted(set(int(i) for i in rel)), dtype=np.int64)
        if rel_idx.size == 0:
            raise ValueError("every query needs at least one relevant candidate")
        if rel_idx.min() < 0 or rel_idx.max() >= row.size:
            raise ValueError("relevant candidate index out of range")
        rel_scores = row[rel_idx]
        # rank = 1 + number of candidates scoring >= this one, excluding itself
        higher_or_equal = (row[None, :] >= rel_scores[:, None]).sum(axis=1) - 1
        ranks.append(np.sort(higher_or_equal + 1))
    return ranks


def average_precision(ranks: np.ndarray) -> float:
    """AP of one query from the sorted 1-based ranks of its relevant items."""
    ranks = np.sort(np.asarray(ranks, dtype=np.float64))
    hits = np.arange(1, ranks.size + 1, dtype=np.float64)
    # each relevant item may share its pessimistic rank with a later one; keep precision <= 1
    return float(np.mean(np.minimum(hits / ranks, 1.0)))


def retrieval_metrics(
    scores: np.ndarray, relevant: Sequence[Iterable[int]], ks: Sequence[int] = RECALL_KS
) -> dict[str, float]:
    """mAP and recall@k (a query counts as a hit when any relevant candidate is in its top k)."""
    ranks = rank_of_relevant(scores, relevant)
    out = {"map": float(np.mean([average_precision(r) for r in ranks]))}
    best = np.array([r[0] for r in ranks])
    for k in ks:
        out[f"recall@{k}"] = float(np.mean(best <= k))
    return out


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


def binary_metrics(labels: np.ndarray, probabilities: np.ndarray, threshold: float = 0.5) -> dict[str, float]:
    """Accuracy at a threshold and ROC-AUC (scikit-learn) of binary predictions."""
    from sklearn.metrics import roc_auc_score

    labels = np.asarray(labels).astype(np.int64).reshape(-1)
    probabilities = np.asarray(probabilities, dtype=np.float64).reshape(-1)
    if labels.shape != probabilities.shape:
        raise ValueError(f"{labels.size} labels for {probabilities.size} predictions")
    if labels.size == 0:
        raise ValueError("no examples to evaluate")
    out = {"accuracy": float(np.mean((probabilities >= threshold).astype(np.int64) == labels))}
    # ROC-AUC is undefined when the evaluation set has one class only; report NaN-free 0.5 then.
    out["roc_auc"] = float(roc_auc_score(labels, probabilities)) if len(np.unique(labels)) == 2 else 0.5
    return out


def masked_lm_accuracy(predictions: np.ndarray, targets: np.ndarray, weights: np.ndarray) -> float:
    """Share of masked positions whose argmax prediction equals the original token."""
    weights = np.asarray(weights, dtype=np.float64)
    total = weights.sum()
    if total <= 0:
        raise ValueError("no masked positions to evaluate")
    return float(((np.asarray(predictions) == np.asarray(targets)) * weights).sum() / total)
