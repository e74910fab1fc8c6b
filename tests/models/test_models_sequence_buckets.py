"""Sequence buckets: a batch cut to its longest row's bucket gives the fixed-length results.

Masks and pooling must make padding invisible, for every input kind a task serves: contexts and
responses (retrieval), pairs (reranking), sessions (session-scoring), on both architectures.
"""

from __future__ import annotations

import numpy as np
import pytest

from rejoinder.models.bundle import create_random_bundle, load_bundle

from models_spec_helpers import tiny_spec

# Short chat turns and ones longer than maxSeqLength (24), so rows land in every bucket and
# some are truncated.
LONG = "this is a much longer message that goes on and on about many different things " * 3
CONTEXTS = [["hi"], ["hi", "how are you?"], [LONG], ["what is your name?", "tell me a joke", "ok"], ["yes"]] * 3
RESPONSES = ["ok", "i am fine, thanks for asking", LONG, "my name is bot", "no"] * 3
BUCKETS = (4, 8, 12, 16)  # the full length (24, or 16+8 for pairs) is always added


def _pair(task: str, architecture: str, tmp_path, corpus_texts):
    export = create_random_bundle(tiny_spec(task, architecture, projectionDim=16), tmp_path / "export",
                                  texts=corpus_texts[:2000], seed=3)
    fixed = load_bundle(export, batch_sizes=(1, 4, 8), sequence_buckets=(24,))
    bucketed = load_bundle(export, batch_sizes=(1, 4, 8), sequence_buckets=BUCKETS)
    return fixed, bucketed


@pytest.mark.parametrize("architecture", ["bert", "qa-lstm"])
def test_bucketed_contexts_and_responses_equal_fixed_length(tmp_path, corpus_texts, architecture):
    fixed, bucketed = _pair("retrieval", architecture, tmp_path, corpus_texts)
    lengths = bucketed.lengths("context", CONTEXTS)
    assert lengths.min() <= 4 and lengths.max() == 24  # the inputs do span the buckets
    assert bucketed.sequence_buckets("context").lengths == (4, 8, 12, 16, 24)
    assert fixed.sequence_buckets("context").lengths == (24,)
    np.testing.assert_allclose(bucketed.encode_contexts(CONTEXTS), fixed.encode_contexts(CONTEXTS), atol=2e-5)
    np.testing.assert_allclose(bucketed.encode_responses(RESPONSES), fixed.encode_responses(RESPONSES), atol=2e-5)
    # One row alone (its own bucket) equals the same row in a mixed batch.
    np.testing.assert_allclose(bucketed.encode_contexts(CONTEXTS[:1]), fixed.encode_contexts(CONTEXTS)[:1], atol=2e-5)
    # Id level, as the server runs it: cut to the batch's bucket, padded to its batch size.
    features = bucketed.tokenize("context", CONTEXTS[:3])
    shaped = bucketed.shape("context", features)
    assert shaped["context_ids"].shape == (4, 24)  # LONG is in this batch
    short = bucketed.shape("context", bucketed.tokenize("context", [["hi"], ["yes"]]))
    assert short["context_ids"].shape == (4, 4)
    np.testing.assert_allclose(bucketed.run("context", short)[:2], fixed.encode_contexts([["hi"], ["yes"]]), atol=2e-5)


@pytest.mark.parametrize("architecture", ["bert", "qa-lstm"])
def test_bucketed_pairs_equal_fixed_length(tmp_path, corpus_texts, architecture):
    fixed, bucketed = _pair("reranking", architecture, tmp_path, corpus_texts)
    if architecture == "bert":  # pairs are packed to contextLength + responseLength
        assert bucketed.sequence_buckets("pair").lengths == (4, 8, 12, 16, 24)
    want = fixed.score_pairs(CONTEXTS, RESPONSES)
    np.testing.assert_allclose(bucketed.score_pairs(CONTEXTS, RESPONSES), want, atol=2e-5)
    assert len(set(bucketed.lengths("pair", CONTEXTS, RESPONSES).tolist())) > 2


@pytest.mark.parametrize("architecture", ["bert", "qa-lstm"])
def test_bucketed_sessions_equal_fixed_length(tmp_path, corpus_texts, architecture):
    fixed, bucketed = _pair("session-scoring", architecture, tmp_path, corpus_texts)
    sessions = [c + [r] for c, r in zip(CONTEXTS, RESPONSES)]
    np.testing.assert_allclose(bucketed.score_sessions(sessions), fixed.score_sessions(sessions), atol=2e-5)


def test_warmup_compiles_every_shape_and_then_nothing_more(tmp_path, corpus_texts):
    """After warm-up, requests of any length trace no new shape (XLA never compiles while serving)."""
    export = create_random_bundle(tiny_spec("retrieval"), tmp_path / "export", texts=corpus_texts[:2000], seed=3)
    bundle = load_bundle(export, xla=True, batch_sizes=(1, 2, 4), sequence_buckets=(8, 16))
    assert bundle.shapes["context"] == [(b, s) for b in (1, 2, 4) for s in (8, 16, 24)]
    assert bundle.tracing_count() == 0
    bundle.warmup()
    warmed = bundle.tracing_count()
    assert warmed == 2 * 9  # context and response, 3 batch sizes × 3 buckets each
    rng = np.random.default_rng(0)
    words = LONG.split()
    for _ in range(30):
        n = int(rng.integers(1, 5))
        batch = [[" ".join(words[: int(rng.integers(1, len(words)))])] for _ in range(n)]
        bundle.run("context", bundle.shape("context", bundle.tokenize("context", batch)))
        bundle.encode_responses([t for [t] in batch])
    assert bundle.tracing_count() == warmed


def test_bulk_encoding_off_xla_uses_finer_default_buckets_with_the_same_results(tmp_path, corpus_texts):
    export = create_random_bundle(tiny_spec("retrieval", "bert", projectionDim=16), tmp_path / "export",
                                  texts=corpus_texts[:2000], seed=3)
    fixed = load_bundle(export, batch_sizes=(1, 4, 8), sequence_buckets=(24,))
    default = load_bundle(export, batch_sizes=(1, 4, 8))
    compiled = load_bundle(export, xla=True, batch_sizes=(1, 4, 8))
    assert default.sequence_buckets("context").lengths == (16, 24)  # what the server pads to
    assert default._bulk_buckets["context"].lengths == (8, 16, 24)  # bulk: a shape is a retrace
    assert compiled._bulk_buckets["context"].lengths == (16, 24)  # under XLA a shape is a compile
    assert fixed._bulk_buckets["context"].lengths == (24,)  # configured buckets are kept as given
    np.testing.assert_allclose(default.encode_contexts(CONTEXTS), fixed.encode_contexts(CONTEXTS), atol=2e-5)
    np.testing.assert_allclose(default.encode_responses(RESPONSES), fixed.encode_responses(RESPONSES), atol=2e-5)
