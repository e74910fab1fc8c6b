"""The task models train in a plain tf.GradientTape loop (how the training issue drives them)."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from rejoinder.models.bundle import build_for_spec
from rejoinder.datasets import synthetic
from rejoinder.text.features import Featurizer
from rejoinder.text.masking import mask_tokens

from models_spec_helpers import tiny_spec


def _train(model, batch, loss_fn, steps=25, lr=3e-3):
    optimizer = keras.optimizers.Adam(lr)

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            loss = loss_fn(model(batch, training=True))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss, [g is not None for g in grads]

    losses = []
    for _ in range(steps):
        loss, has_grad = step()
        assert all(has_grad), "every variable gets a gradient"
        losses.append(float(loss))
    return losses


@pytest.mark.slow
def test_dual_encoder_learns_with_in_batch_softmax(bpe_400):
    spec = tiny_spec("retrieval", projectionDim=16)
    model, _ = build_for_spec(spec, bpe_400)
    pairs = list(synthetic.pairs(16, seed=3))
    batch = Featurizer(bpe_400, model.model_config.sequence).records("retrieval", "bert", pairs)

    def in_batch_softmax(outputs):
        c, r = outputs
        logits = tf.matmul(c, r, transpose_b=True) * 20.0
        labels = tf.range(tf.shape(logits)[0])
        return tf.reduce_mean(tf.keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True))

    losses = _train(model, batch, in_batch_softmax)
    assert losses[-1] < 0.5 * losses[0]


@pytest.mark.slow
def test_masked_lm_learns(bpe_400):
    model, _ = build_for_spec(tiny_spec("pretraining"), bpe_400)
    tok = bpe_400
    ids = Featurizer(tok, model.model_config.sequence).texts([c.text for c in synthetic.candidates(16)])
    masked = mask_tokens(ids, tok.special, tok.vocab_size, np.random.default_rng(0), max_predictions=4)
    chosen = np.take_along_axis(masked.input_ids, masked.masked_positions, axis=1)[masked.masked_weights > 0]
    assert 0.6 < np.mean(chosen == tok.special.mask) < 0.95  # BERT's 80 % [MASK]
    assert np.all(masked.input_ids[masked.masked_weights.sum(1) == 0] == ids[masked.masked_weights.sum(1) == 0])
    batch = {"input_ids": masked.input_ids, "masked_positions": masked.masked_positions}

    def mlm_loss(logits):
        per = tf.keras.losses.sparse_categorical_crossentropy(masked.masked_ids, logits, from_logits=True)
        return tf.reduce_sum(per * masked.masked_weights) / tf.reduce_sum(masked.masked_weights)

    losses = _train(model, batch, mlm_loss, steps=30)
    assert losses[-1] < 0.5 * losses[0]
