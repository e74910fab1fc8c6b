"""Reranking judged as the seed uses it: Respond (the retrieval top-k reordered) against Retrieve
(the top-k as retrieved), on the retrieval model's own held-out lists (training/hard_negatives.py).

Per list the true reply's position under each order gives R@1, R@5 and MRR@20 (a list without
the true reply is a miss under every order: reranking cannot add what retrieval missed). The
blend weight (rejoinder/tasks/respond_blend.py) is chosen on the dev lists by MRR@20 and only
applied to test. Every number comes with its 95 % bootstrap interval; the gains over Retrieve
with the paired one (the same lists resampled together).
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from rejoinder.tasks.respond_blend import order

from .hard_negatives import RankedList
from .metrics import bootstrap_intervals, mean_metrics, per_query_metrics

RESPOND_KS = (1, 5)
BLEND_GRID = tuple(round(w, 2) for w in np.linspace(0.0, 1.0, 21))


def position_values(lists: Sequence[RankedList], reranker: Sequence[np.ndarray], weight: float) -> dict[str, np.ndarray]:
    """Per-list metric values of the order with this blend weight (1: the reranker alone, 0: retrieval's)."""
    ranks = []
    for ranked, scores in zip(lists, reranker):
        if ranked.response not in ranked.candidates:
            ranks.append(np.array([np.inf]))
            continue
        positions = order(scores, ranked.scores, weight)
        where = [ranked.candidates[i] for i in positions].index(ranked.response)
        ranks.append(np.array([where + 1.0]))
    return per_query_metrics(ranks, RESPOND_KS)


def choose_weight(lists: Sequence[RankedList], reranker: Sequence[np.ndarray]) -> float:
    """The blend weight with the best dev MRR@20 (ties: the larger weight, more reranker)."""
    best = max(BLEND_GRID, key=lambda w: (float(np.mean(position_values(lists, reranker, w)["mrr@20"])), w))
    return float(best)


def split_report(lists: Sequence[RankedList], reranker: Sequence[np.ndarray], weight: float, seed: int) -> dict:
    rows = {"retrieve": position_values(lists, reranker, 0.0), "respond": position_values(lists, reranker, 1.0),
            "blend": position_values(lists, reranker, weight)}
    report = {name: mean_metrics(v) for name, v in rows.items()}
    report["intervals"] = {name: bootstrap_intervals(v, seed=seed) for name, v in rows.items()}
    for name in ("respond", "blend"):
        report[f"{name}GainOverRetrieve"] = {k: report[name][k] - report["retrieve"][k] for k in rows[name]}
        report[f"{name}GainIntervals"] = bootstrap_intervals({k: rows[name][k] - rows["retrieve"][k] for k in rows[name]},
                                                             seed=seed)
    report["lists"] = len(lists)
    report["withTrueReply"] = float(np.mean([r.response in r.candidates for r in lists])) if lists else 0.0
    return report


def respond_report(score_lists: Callable[[Sequence[RankedList]], list[np.ndarray]],
                   lists: dict[str, Sequence[RankedList]], seed: int = 0) -> dict:
    """{"blendWeight", "eval": {...}, "test": {...}}: the weight chosen on eval (dev) lists."""
    scored = {split: score_lists(rows) for split, rows in lists.items()}
    weight = choose_weight(lists["eval"], scored["eval"])
    report = {"blendWeight": weight, "chosenOn": "eval (dev) lists, by MRR@20"}
    for split, rows in lists.items():
        report[split] = split_report(rows, scored[split], weight, seed)
    return report
