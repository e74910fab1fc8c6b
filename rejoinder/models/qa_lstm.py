"""QA-LSTM encoder (Tan et al. 2016; the seed's baseline): embedding, BiLSTM, max pooling over time."""

from __future__ import annotations

from keras import layers, ops

from .config import QALstmConfig


class QALstmEncoder(layers.Layer):
    """ids [b, L] → [b, 2·hidden_units] (max over the non-padding time steps)."""

    def __init__(self, config: QALstmConfig, **kwargs):
        super().__init__(**kwargs)
        self.config = config
        self.embedding = layers.Embedding(config.vocab_size, config.embedding_dim, name="embedding")
        self.bilstm = layers.Bidirectional(layers.LSTM(config.hidden_units, return_sequences=True), name="bilstm")
        self.dropout = layers.Dropout(config.dropout)

    def build(self, input_shape=None):
        self.built = True  # sub-layers build on first call

    def encode(self, input_ids, training=False):
        mask = ops.not_equal(input_ids, self.config.pad_id)
        x = self.dropout(self.embedding(input_ids), training=training)
        h = self.bilstm(x, mask=mask, training=training)
        h = ops.cast(h, "float32")
        # Padding steps must never win the max: push them far below any real activation.
        h = ops.where(mask[:, :, None], h, ops.full_like(h, -1e9))
        return ops.max(h, axis=1)

    def call(self, input_ids, training=False):
        return self.encode(input_ids, training=training)
