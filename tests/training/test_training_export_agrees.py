"""A trained scorer's exported bundle scores the held-out examples exactly as training's own
evaluation did: what the server answers with is the model the metrics describe.

Training's evaluation probabilities are captured in-process (binary_metrics is the function
they go through) and compared, row by row, with the bundle's score_pairs / score_sessions on
the same held-out records: the path `rejoinder serve` takes (load_bundle → featurize → padded,
bucketed batches → sigmoid)."""

from __future__ import annotations

import numpy as np
import pytest

from rejoinder.api import parse_dialog_model
from rejoinder.models.bundle import load_bundle
from rejoinder.training import evaluation
from rejoinder.training.data_prep import load_prepared
from rejoinder.training.pipeline import TrainOptions, train, version_layout

from training_support import tiny_model

CASES = [("reranking", "qa-lstm"), ("reranking", "bert"), ("session-scoring", "qa-lstm"), ("session-scoring", "bert")]


@pytest.mark.slow
@pytest.mark.parametrize("task,arch", CASES, ids=[f"{t}-{a}" for t, a in CASES])
def test_exported_bundle_scores_held_out_examples_as_training_evaluated_them(storage, monkeypatch, task, arch):
    seen: list[tuple[np.ndarray, np.ndarray]] = []
    original = evaluation.binary_metrics

    def capture(labels, probabilities, *args, **kwargs):
        seen.append((np.asarray(labels), np.asarray(probabilities, dtype=np.float32)))
        return original(labels, probabilities, *args, **kwargs)

    monkeypatch.setattr(evaluation, "binary_metrics", capture)
    model = parse_dialog_model(tiny_model("m", storage, task=task, model={"architecture": arch},
                                          training={"steps": 12, "checkpointInterval": 6}))
    options = TrainOptions(artifacts=storage, namespace="default", use_horovod=False)
    report = train(model, options)
    assert report is not None and len(seen) == 1
    labels, trained = seen[0]

    layout = version_layout(model, options)
    held = load_prepared(layout.data_dir).eval()
    bundle = load_bundle(layout.export_dir)
    if task == "reranking":
        served = bundle.score_pairs([list(r.context) for r in held], [r.response for r in held])
        want_labels = [r.upvote for r in held]
    else:
        served = bundle.score_sessions([list(s.turns) for s in held])
        want_labels = [s.positive for s in held]
    np.testing.assert_array_equal(labels, np.asarray(want_labels, dtype=labels.dtype))
    assert trained.std() > 1e-4, "a constant scorer cannot show a mismatch"
    np.testing.assert_allclose(served, trained, atol=1e-5)
    assert bundle.manifest["metrics"] == pytest.approx(evaluation.binary_metrics(labels, served))
