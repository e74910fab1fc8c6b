"""Respond against Retrieve on ranked lists, and the blend both serving and evaluation use."""

from __future__ import annotations

import numpy as np
import pytest

from rejoinder.tasks.respond_blend import blended, order, standardise
from rejoinder.training.hard_negatives import RankedList
from rejoinder.training.respond_eval import choose_weight, position_values, respond_report


def _list(reply_at: int, k: int = 4) -> RankedList:
    candidates = [f"c{i}" for i in range(k)]
    candidates[reply_at] = "reply"
    return RankedList(("hi",), "reply", candidates, [1.0 - 0.1 * i for i in range(k)])


def test_the_blend_is_the_reranker_at_one_and_retrieval_at_zero() -> None:
    reranker, retrieval = [0.1, 0.9, 0.5], [0.8, 0.7, 0.6]
    assert order(reranker, retrieval, 1.0) == [1, 2, 0]
    assert order(reranker, retrieval, 0.0) == [0, 1, 2]
    assert np.allclose(blended(reranker, retrieval, 0.5), 0.5 * standardise(reranker) + 0.5 * standardise(retrieval))
    assert order([0.3, 0.3], [0.5, 0.5], 1.0) == [0, 1], "ties keep the retrieval order"
    with pytest.raises(ValueError, match="weight"):
        blended(reranker, retrieval, 1.5)


def test_positions_count_a_list_without_the_reply_as_a_miss() -> None:
    lists = [_list(2), RankedList(("x",), "gone", ["a", "b"], [0.9, 0.8])]
    perfect = [np.array([0.0, 0.0, 1.0, 0.0]), np.array([0.5, 0.1])]
    respond = position_values(lists, perfect, 1.0)
    retrieve = position_values(lists, perfect, 0.0)
    assert respond["recall@1"].tolist() == [1.0, 0.0] and respond["mrr@20"].tolist() == [1.0, 0.0]
    assert retrieve["recall@1"].tolist() == [0.0, 0.0] and retrieve["mrr@20"][0] == pytest.approx(1 / 3)


def test_the_weight_is_chosen_on_dev_and_test_is_only_reported() -> None:
    rng = np.random.default_rng(0)
    dev = [_list(int(rng.integers(0, 4))) for _ in range(50)]
    test = [_list(int(rng.integers(0, 4))) for _ in range(50)]

    def useful(rows):  # a reranker that knows the reply, a little
        return [np.array([1.0 if c == "reply" else 0.0 for c in r.candidates]) for r in rows]

    assert choose_weight(dev, useful(dev)) > 0.5
    seen = []

    def scorer(rows):
        seen.append(len(rows))
        return useful(rows)

    report = respond_report(scorer, {"eval": dev, "test": test})
    assert seen == [50, 50]
    assert report["test"]["respond"]["recall@1"] == 1.0 and report["test"]["respondGainOverRetrieve"]["recall@1"] > 0
    lo, hi = report["test"]["respondGainIntervals"]["mrr@20"]
    assert 0 < lo <= hi
