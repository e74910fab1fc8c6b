"""BERT encoder in Keras 3 (keras.ops only, so it runs on any Keras backend).

As in the original BERT: word + position + token-type embeddings, LayerNorm (epsilon 1e-12),
post-LayerNorm Transformer layers with tanh-approximated GELU. Attention keeps separate
query/key/value Dense layers of shape (hidden, hidden) so Google TF1 checkpoints load by
name with no reshapes (`checkpoints.py`). Under a mixed-precision policy the attention softmax
runs in float32; heads cast their final outputs to float32.
"""

from __future__ import annotations

import math

import keras
from keras import layers, ops

from .config import BertConfig

LN_EPSILON = 1e-12


def _init() -> keras.initializers.Initializer:
    return keras.initializers.TruncatedNormal(stddev=0.02)


def gelu_tanh(x):
    return keras.activations.gelu(x, approximate=True)


class BertEmbeddings(layers.Layer):
    def __init__(self, config: BertConfig, **kwargs):
        super().__init__(**kwargs)
        self.word_embeddings = layers.Embedding(
            config.vocab_size, config.hidden, embeddings_initializer=_init(), name="word_embeddings"
        )
        self.position_embeddings = layers.Embedding(
            config.max_position, config.hidden, embeddings_initializer=_init(), name="position_embeddings"
        )
        self.token_type_embeddings = layers.Embedding(
            config.type_vocab_size, config.hidden, embeddings_initializer=_init(), name="token_type_embeddings"
        )
        self.layer_norm = layers.LayerNormalization(epsilon=LN_EPSILON, name="layer_norm")
        self.dropout = layers.Dropout(config.dropout)
        self.max_position = config.max_position

    def call(self, input_ids, segment_ids=None, training=False):
        length = ops.shape(input_ids)[1]
        if segment_ids is None:
            segment_ids = ops.zeros_like(input_ids)
        x = self.word_embeddings(input_ids)
        x = x + self.position_embeddings(ops.arange(length))[None, :, :]
        x = x + self.token_type_embeddings(segment_ids)
        return self.dropout(self.layer_norm(x), training=training)


class BertLayer(layers.Layer):
    def __init__(self, config: BertConfig, **kwargs):
        super().__init__(**kwargs)
        h = config.hidden
        self.heads = config.heads
        self.head_dim = h // config.heads
        self.query = layers.Dense(h, kernel_initializer=_init(), name="query")
        self.key = layers.Dense(h, kernel_initializer=_init(), name="key")
        self.value = layers.Dense(h, kernel_initializer=_init(), name="value")
        self.attention_output = layers.Dense(h, kernel_initializer=_init(), name="attention_output")
        self.attention_norm = layers.LayerNormalization(epsilon=LN_EPSILON, name="attention_norm")
        self.intermediate = layers.Dense(
            config.intermediate, activation=gelu_tanh, kernel_initializer=_init(), name="intermediate"
        )
        self.output_dense = layers.Dense(h, kernel_initializer=_init(), name="output")
        self.output_norm = layers.LayerNormalization(epsilon=LN_EPSILON, name="output_norm")
        self.attention_dropout = layers.Dropout(config.dropout)
        self.dropout = layers.Dropout(config.dropout)

    def _split(self, x):
        b, n = ops.shape(x)[0], ops.shape(x)[1]
        return ops.transpose(ops.reshape(x, (b, n, self.heads, self.head_dim)), (0, 2, 1, 3))

    def call(self, x, attention_bias, training=False):
        q, k, v = self._split(self.query(x)), self._split(self.key(x)), self._split(self.value(x))
        scores = ops.matmul(q, ops.transpose(k, (0, 1, 3, 2))) / math.sqrt(self.head_dim)
        # float32 softmax: float16 logits with a -10000 mask bias lose the small differences.
        probs = ops.softmax(ops.cast(scores, "float32") + ops.cast(attention_bias, "float32"), axis=-1)
        probs = self.attention_dropout(ops.cast(probs, x.dtype), training=training)
        context = ops.transpose(ops.matmul(probs, v), (0, 2, 1, 3))
        context = ops.reshape(context, ops.shape(x))
        x = self.attention_norm(x + self.dropout(self.attention_output(context), training=training))
        ff = self.output_dense(self.intermediate(x))
        return self.output_norm(x + self.dropout(ff, training=training))


class BertEncoder(layers.Layer):
    """ids [b, L] (+ segment ids) → sequence output [b, L, hidden]; `pool` → [b, hidden]."""

    def __init__(self, config: BertConfig, **kwargs):
        super().__init__(**kwargs)
        self.config = config
        self.embeddings = BertEmbeddings(config, name="embeddings")
        self.encoder_layers = [BertLayer(config, name=f"layer_{i}") for i in range(config.layers)]
        # BERT's pooler (tanh Dense over [CLS]) exists only for cls pooling, so mean-pooled
        # checkpoints such as MiniLM load with nothing missing.
        self.pooler = (
            layers.Dense(config.hidden, activation="tanh", kernel_initializer=_init(), name="pooler")
            if config.pooling == "cls"
            else None
        )

    def build(self, input_shape=None):
        # The pooler is not on the `call` path (only `pool` uses it): create its variables here
        # so checkpoints and saved weights always find them. Other sub-layers build on first call.
        if self.pooler is not None:
            self.pooler.build((None, self.config.hidden))
        self.built = True

    def padding_mask(self, input_ids):
        return ops.not_equal(input_ids, self.config.pad_id)

    def call(self, input_ids, segment_ids=None, training=False):
        mask = self.padding_mask(input_ids)
        bias = (1.0 - ops.cast(mask, "float32"))[:, None, None, :] * -10000.0
        x = self.embeddings(input_ids, segment_ids, training=training)
        for layer in self.encoder_layers:
            x = layer(x, bias, training=training)
        return x

    def pool(self, sequence, input_ids):
        """[b, L, H] → [b, H] by the configured pooling (padding excluded from the mean)."""
        if self.pooler is not None:
            return self.pooler(sequence[:, 0, :])
        return masked_mean(sequence, self.padding_mask(input_ids))

    def encode(self, input_ids, segment_ids=None, training=False):
        return self.pool(self(input_ids, segment_ids, training=training), input_ids)


def masked_mean(sequence, mask):
    m = ops.cast(mask, sequence.dtype)[:, :, None]
    total = ops.sum(sequence * m, axis=1)
    count = ops.maximum(ops.sum(m, axis=1), ops.cast(1.0, sequence.dtype))  # an all-padding row gives 0
    return total / count


class MaskedLMHead(layers.Layer):
    """BERT's MLM head: Dense + GELU + LayerNorm, then logits against the *tied* word embeddings."""

    def __init__(self, config: BertConfig, word_embeddings: layers.Embedding, **kwargs):
        super().__init__(**kwargs)
        self.transform = layers.Dense(
            config.hidden, activation=gelu_tanh, kernel_initializer=_init(), name="transform"
        )
        self.layer_norm = layers.LayerNormalization(epsilon=LN_EPSILON, name="layer_norm")
        # The tie: a closure (not an attribute Keras would track and save a second time).
        self._table = lambda: word_embeddings.embeddings
        self.vocab_size = config.vocab_size

    def build(self, input_shape):
        self.output_bias = self.add_weight(shape=(self.vocab_size,), initializer="zeros", name="output_bias")
        super().build(input_shape)

    def call(self, hidden):
        h = self.layer_norm(self.transform(hidden))
        table = ops.cast(self._table(), h.dtype)
        logits = ops.matmul(h, ops.transpose(table)) + ops.cast(self.output_bias, h.dtype)
        return ops.cast(logits, "float32")


def gather_positions(sequence, positions):
    """[b, L, H] at positions [b, P] → [b, P, H] (only masked tokens go through the MLM head)."""
    return ops.take_along_axis(sequence, ops.expand_dims(ops.cast(positions, "int32"), -1), axis=1)
