"""An independent numpy BERT forward pass over TF1-named weights (the test's ground truth)."""

from __future__ import annotations

import numpy as np


def gelu_tanh(x):
    return 0.5 * x * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * (x + 0.044715 * x**3)))


def layer_norm(x, gamma, beta, eps=1e-12):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * gamma + beta


def softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def bert_forward(w: dict, ids: np.ndarray, segments: np.ndarray, layers: int, heads: int, pad: int = 0):
    e = "bert/embeddings/"
    n, length = ids.shape
    x = w[e + "word_embeddings"][ids] + w[e + "position_embeddings"][:length][None] + w[e + "token_type_embeddings"][segments]
    x = layer_norm(x, w[e + "LayerNorm/gamma"], w[e + "LayerNorm/beta"])
    bias = (ids == pad)[:, None, None, :] * -10000.0
    hidden = x.shape[-1]
    d = hidden // heads

    def dense(x, name):
        return x @ w[name + "/kernel"] + w[name + "/bias"]

    def split(t):
        return t.reshape(n, length, heads, d).transpose(0, 2, 1, 3)

    for i in range(layers):
        p = f"bert/encoder/layer_{i}/"
        q, k, v = (split(dense(x, p + f"attention/self/{m}")) for m in ("query", "key", "value"))
        probs = softmax(q @ k.transpose(0, 1, 3, 2) / np.sqrt(d) + bias)
        ctx = (probs @ v).transpose(0, 2, 1, 3).reshape(n, length, hidden)
        x = layer_norm(x + dense(ctx, p + "attention/output/dense"),
                       w[p + "attention/output/LayerNorm/gamma"], w[p + "attention/output/LayerNorm/beta"])
        ff = dense(gelu_tanh(dense(x, p + "intermediate/dense")), p + "output/dense")
        x = layer_norm(x + ff, w[p + "output/LayerNorm/gamma"], w[p + "output/LayerNorm/beta"])
    return x


def mlm_logits(w: dict, sequence: np.ndarray):
    t = "cls/predictions/transform/"
    h = gelu_tanh(sequence @ w[t + "dense/kernel"] + w[t + "dense/bias"])
    h = layer_norm(h, w[t + "LayerNorm/gamma"], w[t + "LayerNorm/beta"])
    return h @ w["bert/embeddings/word_embeddings"].T + w["cls/predictions/output_bias"]


def random_tf1_weights(rng, vocab=40, hidden=16, layers=4, intermediate=32, positions=512, mlm=True):
    def r(*shape):
        return (rng.standard_normal(shape) * 0.2).astype(np.float32)

    e = "bert/embeddings/"
    w = {
        e + "word_embeddings": r(vocab, hidden),
        e + "position_embeddings": r(positions, hidden),
        e + "token_type_embeddings": r(2, hidden),
        e + "LayerNorm/gamma": 1 + r(hidden),
        e + "LayerNorm/beta": r(hidden),
    }
    for i in range(layers):
        p = f"bert/encoder/layer_{i}/"
        for m in ("attention/self/query", "attention/self/key", "attention/self/value", "attention/output/dense"):
            w[p + m + "/kernel"], w[p + m + "/bias"] = r(hidden, hidden), r(hidden)
        w[p + "intermediate/dense/kernel"], w[p + "intermediate/dense/bias"] = r(hidden, intermediate), r(intermediate)
        w[p + "output/dense/kernel"], w[p + "output/dense/bias"] = r(intermediate, hidden), r(hidden)
        for m in ("attention/output/LayerNorm", "output/LayerNorm"):
            w[p + m + "/gamma"], w[p + m + "/beta"] = 1 + r(hidden), r(hidden)
    w["bert/pooler/dense/kernel"], w["bert/pooler/dense/bias"] = r(hidden, hidden), r(hidden)
    if mlm:
        t = "cls/predictions/transform/"
        w[t + "dense/kernel"], w[t + "dense/bias"] = r(hidden, hidden), r(hidden)
        w[t + "LayerNorm/gamma"], w[t + "LayerNorm/beta"] = 1 + r(hidden), r(hidden)
        w["cls/predictions/output_bias"] = r(vocab)
    return w


def write_tf1_checkpoint(prefix: str, weights: dict, extra: dict | None = None) -> None:
    """A checkpoint with Google's original variable names, as TF1's Saver writes them."""
    import tensorflow as tf

    tensors = {**weights, **(extra or {})}
    names = sorted(tensors)
    tf.raw_ops.SaveV2(
        prefix=prefix,
        tensor_names=names,
        shape_and_slices=[""] * len(names),
        tensors=[tf.constant(tensors[k]) for k in names],
    )
