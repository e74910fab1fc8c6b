"""Training's evaluation runs batches at their sequence bucket: the same numbers as full length."""

from __future__ import annotations

import numpy as np
import pytest

from rejoinder.api.spec import DialogModelSpec
from rejoinder.models.bundle import create_random_bundle, load_bundle
from rejoinder.datasets import synthetic
from rejoinder.datasets.chatterbot import load_corpus

from rejoinder.training.evaluation import predict

BERT = {"layers": 1, "hidden": 32, "heads": 2, "intermediate": 64, "maxSeqLength": 32,
        "contextLength": 24, "responseLength": 8}


@pytest.fixture(scope="module")
def texts() -> list[str]:
    pairs, _ = load_corpus()
    return [t for p in pairs for t in (*p.context, p.response)][:1500]


def _model(task: str, tmp_path, texts):
    spec = DialogModelSpec.model_validate({
        "task": task, "data": {"preset": "chatterbot"}, "tokenizer": {"vocabSize": 400},
        "model": {"bert": BERT}, "serving": {"enabled": task != "pretraining"},
    })
    return load_bundle(create_random_bundle(spec, tmp_path / task, texts=texts, seed=2))


def test_bucketed_eval_predictions_equal_full_length_ones_in_input_order(tmp_path, texts):
    bundle = _model("retrieval", tmp_path, texts)
    model, pad = bundle.model, bundle.config.special.pad
    contexts = [list(p.context) for p in synthetic.pairs(150, seed=3)] + [[" ".join(texts[:40])]]
    ids = bundle.featurizer.contexts(contexts)
    lengths = (ids != pad).sum(axis=1)
    assert lengths.min() < 16 and lengths.max() == 32  # several buckets, unsorted
    got = predict(lambda f: model.encode_context(f["context_ids"]), {"context_ids": ids}, batch=16, pad_id=pad)
    want = np.asarray(model.encode_context(ids))
    np.testing.assert_allclose(got, want, atol=2e-5)


def test_bucketed_masked_lm_eval_equals_full_length(tmp_path, texts):
    import keras

    bundle = _model("pretraining", tmp_path, texts)
    model, pad = bundle.model, bundle.config.special.pad
    ids = bundle.featurizer.texts(texts[:100])
    positions = np.tile(np.array([[1, 2]], np.int32), (ids.shape[0], 1))
    inputs = {"input_ids": ids, "masked_positions": positions}
    got = predict(lambda f: model(f, training=False), inputs, batch=16, pad_id=pad)
    want = np.asarray(keras.ops.convert_to_numpy(model(inputs, training=False)))
    np.testing.assert_allclose(got, want, atol=1e-4)
