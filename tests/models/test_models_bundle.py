from __future__ import annotations

import json

import numpy as np
import pytest

from rejoinder.models.bundle import (
    FORMAT,
    BundleError,
    UnsupportedTask,
    build_for_spec,
    create_random_bundle,
    load_bundle,
    save_bundle,
)
from rejoinder.text.features import Featurizer
from rejoinder.text.formats import Reaction

from models_spec_helpers import tiny_spec

CONTEXTS = [["hi", "how are you?"], ["what is your name?"], ["tell me a joke"]]
RESPONSES = ["i am fine", "my name is bot", "why did the chicken cross the road"]


@pytest.mark.parametrize("shared", [True, False])
def test_retrieval_bundle_round_trip_matches_the_trained_model(tmp_path, bpe_400, shared):
    spec = tiny_spec("retrieval", projectionDim=16, sharedEncoder=shared)
    model, reports = build_for_spec(spec, bpe_400)
    assert reports == []
    export = save_bundle(tmp_path / "export", model, bpe_400, spec, version="v-test", metrics={"map": 0.5})

    manifest = json.loads((export / "manifest.json").read_text())
    assert manifest["format"] == FORMAT and manifest["task"] == "retrieval" and manifest["version"] == "v-test"
    assert manifest["embeddingDim"] == 16 and manifest["metrics"] == {"map": 0.5}
    assert manifest["sequence"]["maxSeqLength"] == 24 and manifest["spec"]["task"] == "retrieval"

    bundle = load_bundle(export, precision="none", xla=False, batch_sizes=(1, 2, 4))
    assert (bundle.task, bundle.version, bundle.embedding_dim, bundle.kinds) == ("retrieval", "v-test", 16, ("context", "response"))
    # Training featurizes with the same Featurizer: the bundle's vectors are the model's vectors.
    featurizer = Featurizer(bpe_400, bundle.config.sequence)
    want = np.asarray(model.encode_context(featurizer.contexts(CONTEXTS)))
    got = bundle.encode_contexts(CONTEXTS)
    np.testing.assert_allclose(got, want, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    responses = bundle.encode_responses(RESPONSES * 3)  # 9 rows: chunks of 4, 4, 1
    np.testing.assert_allclose(responses[:3], np.asarray(model.encode_response(featurizer.responses(RESPONSES))), atol=1e-5)
    np.testing.assert_allclose(responses[3:6], responses[:3], atol=1e-6)

    # Id level: a padded batch gives the same rows as the unpadded one.
    features = bundle.tokenize("context", CONTEXTS)
    assert features["context_ids"].dtype == np.int32 and features["context_ids"].shape == (3, 24)
    assert bundle.bucket(3) == 4 and bundle.bucket(1) == 1 and bundle.bucket(99) == 4
    padded = bundle.pad(features, 4)
    assert padded["context_ids"].shape == (4, 24)
    np.testing.assert_allclose(bundle.run("context", padded)[:3], got, atol=1e-5)

    with pytest.raises(UnsupportedTask, match="retrieval model does not take 'pair'"):
        bundle.score_pairs(CONTEXTS, RESPONSES)

    if shared:
        return
    # Mixed precision and XLA give the same vectors up to half-precision rounding.
    fast = load_bundle(export, precision="bfloat16", xla=True, batch_sizes=(4,))
    np.testing.assert_allclose(fast.encode_contexts(CONTEXTS), got, atol=5e-2)
    assert fast.encode_contexts(CONTEXTS).dtype == np.float32


@pytest.mark.parametrize("task, architecture", [("reranking", "bert"), ("reranking", "qa-lstm"), ("session-scoring", "qa-lstm")])
def test_random_bundles_score(tmp_path, corpus_texts, task, architecture):
    export = create_random_bundle(tiny_spec(task, architecture), tmp_path / "export", texts=corpus_texts[:2000])
    bundle = load_bundle(export, batch_sizes=(2, 4))
    assert bundle.manifest["untrained"] is True and bundle.embedding_dim is None
    if task == "reranking":
        scores = bundle.score_pairs(CONTEXTS, RESPONSES)
        # Serving featurizes exactly as training does.
        reactions = [Reaction(tuple(c), r, True) for c, r in zip(CONTEXTS, RESPONSES)]
        trained_on = Featurizer(bundle.tokenizer, bundle.config.sequence).records(task, architecture, reactions)
        served = bundle.tokenize("pair", CONTEXTS, RESPONSES)
        assert served.keys() == trained_on.keys() - {"label"}
        for name in served:
            np.testing.assert_array_equal(served[name], trained_on[name])
        with pytest.raises(ValueError, match="3 contexts but 2 responses"):
            bundle.score_pairs(CONTEXTS, RESPONSES[:2])
        with pytest.raises(UnsupportedTask):
            bundle.encode_contexts(CONTEXTS)
    else:
        scores = bundle.score_sessions([c + [r] for c, r in zip(CONTEXTS, RESPONSES)])
    assert scores.shape == (3,) and scores.dtype == np.float32
    assert np.all((scores > 0) & (scores < 1))
    bundle.warmup()


def test_pretraining_bundle_serves_nothing_and_bad_dirs_are_explained(tmp_path, corpus_texts):
    export = create_random_bundle(tiny_spec("pretraining"), tmp_path / "export", texts=corpus_texts[:2000])
    bundle = load_bundle(export)
    with pytest.raises(UnsupportedTask, match="pretraining models are not served"):
        bundle.score_sessions([["hi"]])
    with pytest.raises(BundleError, match="no manifest.json"):
        load_bundle(tmp_path)
    (export / "model" / "model.weights.h5").unlink()
    with pytest.raises(BundleError, match="model/model.weights.h5 is missing"):
        load_bundle(export)
