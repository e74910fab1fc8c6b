"""The float32 ONNX export computes what the Keras model computes, for every input kind."""

from __future__ import annotations

import json

import numpy as np
import pytest

from models_spec_helpers import tiny_spec
from rejoinder.inference.gate import row_cosine
from rejoinder.models.bundle import build_for_spec, load_bundle, save_bundle

MIN_COSINE = 0.9999


def _export(tmp_path, spec, tokenizer, held_out):
    model, _ = build_for_spec(spec, tokenizer)
    return save_bundle(tmp_path / "export", model, tokenizer, spec, version="v-test", held_out=held_out)


def _both(export):
    keras_bundle = load_bundle(export, batch_sizes=(1, 4, 16))
    onnx_bundle = load_bundle(export, batch_sizes=(1, 4, 16), runtime="onnxruntime")
    assert (keras_bundle.runtime, onnx_bundle.runtime) == ("tensorflow", "onnxruntime")
    assert onnx_bundle.model is None and onnx_bundle.precision == "float32"
    return keras_bundle, onnx_bundle


def _assert_embeddings_equal(want: np.ndarray, got: np.ndarray) -> None:
    assert want.shape == got.shape and len(want) > 0
    assert row_cosine(want, got).min() >= MIN_COSINE
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)


@pytest.mark.parametrize("variant", [
    {"projectionDim": 16},
    {"sharedEncoder": False},
    {"pooling": "cls"},
])
def test_retrieval_export_matches_keras(tmp_path, bpe_400, held_out, variant):
    spec = tiny_spec("retrieval", **variant)
    export = _export(tmp_path, spec, bpe_400, held_out)
    manifest = json.loads((export / "manifest.json").read_text())
    files = manifest["inference"]["float32"]["files"]
    assert set(files) == {"context", "response"}
    assert (files["context"] == files["response"]) == (variant.get("sharedEncoder", True))
    for kind in ("context", "response"):  # recorded at export, on the held-out text
        assert manifest["inference"]["float32"]["parity"][kind]["cosineMin"] >= MIN_COSINE
    keras_bundle, onnx_bundle = _both(export)
    contexts, responses = held_out.contexts, held_out.responses
    _assert_embeddings_equal(keras_bundle.encode_contexts(contexts), onnx_bundle.encode_contexts(contexts))
    _assert_embeddings_equal(keras_bundle.encode_responses(responses), onnx_bundle.encode_responses(responses))


@pytest.mark.parametrize("task, method", [("reranking", "score_pairs"), ("session-scoring", "score_sessions")])
def test_probability_exports_match_keras(tmp_path, bpe_400, held_out, task, method):
    export = _export(tmp_path, tiny_spec(task), bpe_400, held_out)
    manifest = json.loads((export / "manifest.json").read_text())
    kind = "pair" if task == "reranking" else "session"
    assert manifest["inference"]["float32"]["parity"][kind]["maxAbsDiff"] < 1e-4
    assert "not offered" in manifest["inference"]["int8"]["reason"]
    keras_bundle, onnx_bundle = _both(export)
    if method == "score_pairs":
        args = (held_out.contexts, held_out.responses)
    else:
        args = ([[*c, r] for c, r in zip(held_out.contexts, held_out.responses)],)
    want, got = getattr(keras_bundle, method)(*args), getattr(onnx_bundle, method)(*args)
    assert want.shape == got.shape == (len(held_out.contexts),)
    np.testing.assert_allclose(got, want, atol=1e-4)
    assert float(row_cosine(want[None, :], got[None, :])[0]) >= MIN_COSINE
    assert np.std(want) > 0  # the rows differ: a constant output would compare equal trivially


def test_qa_lstm_bundles_have_no_export_and_say_why(tmp_path, bpe_400, held_out):
    export = _export(tmp_path, tiny_spec("retrieval", architecture="qa-lstm"), bpe_400, held_out)
    inference = json.loads((export / "manifest.json").read_text())["inference"]
    assert "qa-lstm" in inference["reason"] and "float32" not in inference
    with pytest.raises(ValueError, match="no float32 ONNX export"):
        load_bundle(export, runtime="onnxruntime")
