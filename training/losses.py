"""Training losses in keras.ops (backend-neutral), always computed in float32."""

from __future__ import annotations

from keras import ops

# Cosine similarities live in [-1, 1]; a softmax over them needs a temperature. 20 (temperature
# 0.05) is the usual in-batch-negatives scale (sentence-transformers' MultipleNegativesRankingLoss);
# training.contrastiveLoss.temperature sets it per DialogModel.
RETRIEVAL_SCALE = 20.0


def in_batch_softmax_loss(context_emb, response_emb, response_ids=None, scale: float = RETRIEVAL_SCALE,
                          pool_emb=None, pool_ids=None, symmetric: bool = True, echo_emb=None, echo_ids=None):
    """Each context must pick its own response among the batch's responses, and (`symmetric`)
    each response its own context: softmax cross-entropy over scaled cosine similarities, the
    two directions averaged.

    Embeddings are L2-normalised [b, d]. When `response_ids` is given, other rows with the very
    same response are not counted as negatives (short replies like "Yes." repeat in dialog data).
    `pool_emb` [N, d] (constants, with their token ids `pool_ids` [N, L]) are further negatives
    for the context → response direction; a pool entry equal to the row's response is skipped.
    `echo_emb` [b, d] (with gradient; ids `echo_ids` [b, L]) are the batch's contexts' newest
    turns encoded as replies: further negatives for every context (its own echo above all), an
    echo equal to the row's response skipped.
    """
    c = ops.cast(context_emb, "float32")
    r = ops.cast(response_emb, "float32")
    logits = scale * ops.matmul(c, ops.transpose(r))
    n = ops.shape(logits)[0]
    eye = ops.eye(n, dtype="bool")
    if response_ids is not None:
        same = ops.all(ops.equal(response_ids[:, None, :], response_ids[None, :, :]), axis=-1)
        logits = ops.where(ops.logical_and(same, ops.logical_not(eye)), ops.full_like(logits, -1e9), logits)
    labels = ops.arange(n)
    backward_logits = ops.transpose(logits)
    if pool_emb is not None:
        pool_logits = scale * ops.matmul(c, ops.transpose(ops.stop_gradient(ops.cast(pool_emb, "float32"))))
        own = ops.all(ops.equal(response_ids[:, None, :], ops.cast(pool_ids, response_ids.dtype)[None, :, :]), axis=-1)
        pool_logits = ops.where(own, ops.full_like(pool_logits, -1e9), pool_logits)
        logits = ops.concatenate([logits, pool_logits], axis=1)
    if echo_emb is not None:
        echo_logits = scale * ops.matmul(c, ops.transpose(ops.cast(echo_emb, "float32")))
        same = ops.all(ops.equal(response_ids[:, None, :], ops.cast(echo_ids, response_ids.dtype)[None, :, :]), axis=-1)
        logits = ops.concatenate([logits, ops.where(same, ops.full_like(echo_logits, -1e9), echo_logits)], axis=1)
    forward = ops.mean(ops.sparse_categorical_crossentropy(labels, logits, from_logits=True))
    if not symmetric:
        return forward
    backward = ops.sparse_categorical_crossentropy(labels, backward_logits, from_logits=True)
    return 0.5 * (forward + ops.mean(backward))


def binary_loss(logits, labels):
    """Sigmoid cross-entropy (upvote prediction, session scoring)."""
    return ops.mean(ops.binary_crossentropy(ops.cast(labels, "float32"), ops.cast(logits, "float32"), from_logits=True))


def masked_lm_loss(logits, masked_ids, masked_weights):
    """Cross-entropy at the masked positions only (logits [b, P, V])."""
    per_position = ops.sparse_categorical_crossentropy(masked_ids, ops.cast(logits, "float32"), from_logits=True)
    weights = ops.cast(masked_weights, "float32")
    return ops.sum(per_position * weights) / ops.maximum(ops.sum(weights), 1.0)
