"""Task models: the encoders of `bert.py` / `qa_lstm.py` with a head per task.

Each is a `keras.Model` whose `call(inputs: dict, training=...)` takes the arrays that
`rejoinder.text.features.Featurizer.records` produces (labels are ignored) and returns float32:

    DualEncoder        retrieval         (context_emb [b,d], response_emb [b,d]), L2-normalised
    CrossEncoder       reranking, bert   upvote logit [b]
    QALstmReranker     reranking, lstm   upvote logit [b]   (MLP over [c, r, c·r, |c−r|])
    SequenceClassifier session-scoring   good-session logit [b]
    MaskedLM           pretraining       vocab logits [b, L, V], or [b, P, V] given masked_positions

They train in a plain `tf.GradientTape` loop: `model(batch, training=True)` then
`model.trainable_variables`. The losses (in-batch softmax, BCE, MLM cross-entropy) are training's.
"""

from __future__ import annotations

from typing import Any, Union

import keras
from keras import layers, ops

from .bert import BertEncoder, MaskedLMHead, gather_positions, _init
from .config import ModelConfig
from .qa_lstm import QALstmEncoder

Encoder = Union[BertEncoder, QALstmEncoder]


def make_encoder(config: ModelConfig, name: str) -> Encoder:
    if config.architecture == "bert":
        assert config.bert is not None
        return BertEncoder(config.bert, name=name)
    assert config.qa_lstm is not None
    return QALstmEncoder(config.qa_lstm, name=name)


def _encode(encoder: Encoder, ids, training: bool):
    return encoder.encode(ids, training=training)


def l2_normalise(x):
    x = ops.cast(x, "float32")
    return x / ops.maximum(ops.sqrt(ops.sum(x * x, axis=-1, keepdims=True)), 1e-12)


class TaskModel(keras.Model):
    """Common part: the config it was built from and the encoder(s) checkpoints load into."""

    def __init__(self, config: ModelConfig, **kwargs):
        super().__init__(**kwargs)
        self.model_config = config

    def build(self, input_shape=None):
        # Sub-layers build themselves on first call (build_model makes that call); this stops
        # Keras from trying to trace `call` symbolically just to create variables.
        self.built = True

    @property
    def encoders(self) -> list[Encoder]:
        raise NotImplementedError


class DualEncoder(TaskModel):
    def __init__(self, config: ModelConfig, **kwargs):
        super().__init__(config, name="dual_encoder", **kwargs)
        self.context_encoder = make_encoder(config, "encoder" if config.shared_encoder else "context_encoder")
        self.response_encoder = (
            self.context_encoder if config.shared_encoder else make_encoder(config, "response_encoder")
        )
        # The projection is shared too: both towers must land in the same space.
        self.projection = (
            layers.Dense(config.projection_dim, use_bias=False, kernel_initializer=_init(), name="projection")
            if config.projection_dim and config.architecture == "bert"
            else None
        )

    @property
    def encoders(self) -> list[Encoder]:
        return [self.context_encoder] if self.model_config.shared_encoder else [self.context_encoder, self.response_encoder]

    def _embed(self, encoder: Encoder, ids, training: bool):
        x = _encode(encoder, ids, training)
        if self.projection is not None:
            x = self.projection(x)
        return l2_normalise(x)

    def encode_context(self, ids, training: bool = False):
        return self._embed(self.context_encoder, ids, training)

    def encode_response(self, ids, training: bool = False):
        return self._embed(self.response_encoder, ids, training)

    def call(self, inputs: dict[str, Any], training: bool = False):
        return self.encode_context(inputs["context_ids"], training), self.encode_response(inputs["response_ids"], training)


def _logit_layer() -> layers.Dense:
    # float32 output even under a mixed policy: losses and sigmoids need the range.
    return layers.Dense(1, kernel_initializer=_init(), dtype="float32", name="logit")


class CrossEncoder(TaskModel):
    """[CLS] context [SEP] response [SEP] through BERT, pooled, one logit."""

    def __init__(self, config: ModelConfig, **kwargs):
        super().__init__(config, name="cross_encoder", **kwargs)
        assert config.bert is not None
        self.encoder = make_encoder(config, "encoder")
        self.dropout = layers.Dropout(config.bert.dropout)
        self.logit = _logit_layer()

    @property
    def encoders(self) -> list[Encoder]:
        return [self.encoder]

    def call(self, inputs: dict[str, Any], training: bool = False):
        ids = inputs["input_ids"]
        pooled = self.encoder.encode(ids, inputs.get("segment_ids"), training=training)
        return self.logit(self.dropout(pooled, training=training))[:, 0]


class QALstmReranker(TaskModel):
    """Context and response through one QA-LSTM encoder, then an MLP (the seed's QA-LSTM + MLP)."""

    def __init__(self, config: ModelConfig, **kwargs):
        super().__init__(config, name="qa_lstm_reranker", **kwargs)
        assert config.qa_lstm is not None
        self.encoder = make_encoder(config, "encoder")
        self.hidden = layers.Dense(config.qa_lstm.mlp_units, activation="relu", name="mlp")
        self.dropout = layers.Dropout(config.qa_lstm.dropout)
        self.logit = _logit_layer()

    @property
    def encoders(self) -> list[Encoder]:
        return [self.encoder]

    def call(self, inputs: dict[str, Any], training: bool = False):
        c = self.encoder.encode(inputs["context_ids"], training=training)
        r = self.encoder.encode(inputs["response_ids"], training=training)
        x = ops.concatenate([c, r, c * r, ops.abs(c - r)], axis=-1)
        return self.logit(self.dropout(self.hidden(x), training=training))[:, 0]


class SequenceClassifier(TaskModel):
    """A whole session (turns joined with ###) → one logit (BERT pooled, or QA-LSTM + MLP)."""

    def __init__(self, config: ModelConfig, **kwargs):
        super().__init__(config, name="sequence_classifier", **kwargs)
        self.encoder = make_encoder(config, "encoder")
        if config.architecture == "qa-lstm":
            assert config.qa_lstm is not None
            self.hidden = layers.Dense(config.qa_lstm.mlp_units, activation="relu", name="mlp")
            rate = config.qa_lstm.dropout
        else:
            assert config.bert is not None
            self.hidden = None
            rate = config.bert.dropout
        self.dropout = layers.Dropout(rate)
        self.logit = _logit_layer()

    @property
    def encoders(self) -> list[Encoder]:
        return [self.encoder]

    def call(self, inputs: dict[str, Any], training: bool = False):
        x = _encode(self.encoder, inputs["input_ids"], training)
        if self.hidden is not None:
            x = self.hidden(x)
        return self.logit(self.dropout(x, training=training))[:, 0]


class MaskedLM(TaskModel):
    """BERT + the MLM head tied to its word embeddings."""

    def __init__(self, config: ModelConfig, **kwargs):
        super().__init__(config, name="masked_lm", **kwargs)
        assert config.bert is not None
        self.encoder = make_encoder(config, "encoder")
        assert isinstance(self.encoder, BertEncoder)
        self.mlm = MaskedLMHead(config.bert, self.encoder.embeddings.word_embeddings, name="mlm")

    @property
    def encoders(self) -> list[Encoder]:
        return [self.encoder]

    def call(self, inputs: dict[str, Any], training: bool = False):
        sequence = self.encoder(inputs["input_ids"], inputs.get("segment_ids"), training=training)
        if "masked_positions" in inputs:
            sequence = gather_positions(sequence, inputs["masked_positions"])
        return self.mlm(sequence)
