import numpy as np
import pytest

from rejoinder.training.metrics import (
    average_precision,
    binary_metrics,
    masked_lm_accuracy,
    random_retrieval_metrics,
    rank_of_relevant,
    retrieval_metrics,
)
from rejoinder.training.bm25_baseline import Bm25Ranker
from rejoinder.training.evaluation import flat_metrics, format_table, gain_over
from rejoinder.training.tfidf_baseline import tfidf_scores


def test_ranks_and_recall_on_a_hand_checked_example():
    scores = np.array([
        [0.9, 0.1, 0.5, 0.3],  # relevant 0 → rank 1
        [0.9, 0.1, 0.5, 0.3],  # relevant 3 → rank 3
        [0.2, 0.8, 0.7, 0.1],  # relevant {2, 3} → ranks 2 and 4
    ])
    relevant = [[0], [3], [2, 3]]
    ranks = rank_of_relevant(scores, relevant)
    assert [r.tolist() for r in ranks] == [[1], [3], [2, 4]]
    m = retrieval_metrics(scores, relevant, ks=(1, 2, 3))
    assert m["recall@1"] == pytest.approx(1 / 3)
    assert m["recall@2"] == pytest.approx(2 / 3)
    assert m["recall@3"] == pytest.approx(1.0)
    ap3 = (1 / 2 + 2 / 4) / 2
    assert m["map"] == pytest.approx((1.0 + 1 / 3 + ap3) / 3)


def test_ties_count_against_the_relevant_item():
    # A constant scorer must not get perfect recall.
    m = retrieval_metrics(np.zeros((2, 5)), [[0], [4]], ks=(1, 5))
    assert m["recall@1"] == 0.0 and m["recall@5"] == 1.0
    assert average_precision(np.array([5])) == pytest.approx(0.2)


def test_random_baseline_matches_simulation():
    rng = np.random.default_rng(0)
    relevant = [[0], [1, 2]]
    expected = random_retrieval_metrics(20, relevant, ks=(1, 5))
    sims = [retrieval_metrics(rng.random((2, 20)), relevant, ks=(1, 5)) for _ in range(3000)]
    for k in ("recall@1", "recall@5"):
        assert np.mean([s[k] for s in sims]) == pytest.approx(expected[k], abs=0.02)


def test_bad_retrieval_input_is_refused():
    with pytest.raises(ValueError, match="relevance sets"):
        retrieval_metrics(np.zeros((2, 3)), [[0]])
    with pytest.raises(ValueError, match="out of range"):
        retrieval_metrics(np.zeros((1, 3)), [[3]])
    with pytest.raises(ValueError, match="at least one relevant"):
        retrieval_metrics(np.zeros((1, 3)), [[]])


def test_binary_metrics():
    m = binary_metrics(np.array([1, 0, 1, 0]), np.array([0.9, 0.2, 0.4, 0.6]))
    assert m["accuracy"] == pytest.approx(0.5)
    assert m["roc_auc"] == pytest.approx(0.75)
    assert binary_metrics(np.array([1, 1]), np.array([0.9, 0.1]))["roc_auc"] == 0.5
    with pytest.raises(ValueError):
        binary_metrics(np.array([1]), np.array([0.1, 0.2]))


def test_masked_lm_accuracy_ignores_padding_positions():
    acc = masked_lm_accuracy(np.array([[5, 7, 0]]), np.array([[5, 8, 0]]), np.array([[1, 1, 0]]))
    assert acc == pytest.approx(0.5)


def test_tfidf_prefers_lexical_overlap():
    scores = tfidf_scores(
        ["i like green tea", "the weather is cold"],
        ["do you like tea", "is it cold outside"],
        ["tea is my favourite drink", "cold weather today", "no idea"],
    )
    assert scores.shape == (2, 3)
    assert scores[0].argmax() == 0 and scores[1].argmax() == 1


def test_bm25_prefers_lexical_overlap_and_scores_unknown_words_zero():
    ranker = Bm25Ranker(["tea is my favourite drink", "cold weather today", "no idea"])
    scores = ranker.scores(["do you like tea", "is it cold outside", "zebra quantum", "the of"])
    assert scores.shape == (4, 3) and scores.dtype == np.float32
    assert scores[0].argmax() == 0 and scores[1].argmax() == 1
    assert not scores[2].any() and not scores[3].any()  # no indexed word: nothing to rank by
    with pytest.raises(ValueError, match="at least one candidate"):
        Bm25Ranker([])


def test_gain_over_start_in_the_report_line_and_table():
    report = {"metrics": {"recall@5": 0.80, "map": 0.70},
              "baselines": {"init": {"recall@5": 0.75, "map": 0.72}, "bm25": {"recall@5": 0.12, "map": 0.09}}}
    report["gainOverStart"] = gain_over(report["metrics"], report["baselines"]["init"])
    assert report["gainOverStart"] == pytest.approx({"recall@5": 0.05, "map": -0.02})
    flat = flat_metrics(report)
    assert flat["init_recall@5"] == 0.75 and flat["bm25_map"] == 0.09
    assert flat["gain_recall@5"] == pytest.approx(0.05) and flat["gain_map"] == pytest.approx(-0.02)
    table = format_table(report)
    assert "gain over init" in table.splitlines()[0] and "+0.0500" in table and "-0.0200" in table
