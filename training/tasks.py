"""The training adapters: a Keras task model from rejoinder.models plus its loss and the
host-side per-batch work. `run_loop` drives any of these the same way; each task's module
(`rejoinder.tasks`, `TaskDefinition.training_task`) picks its adapter:

    retrieval        DualEncoder (BERT or QA-LSTM)  in-batch softmax (training.contrastiveLoss)
    reranking        CrossEncoder / QALstmReranker  sigmoid cross-entropy on upvote
    session-scoring  SequenceClassifier             sigmoid cross-entropy on good session
    pretraining      MaskedLM                       cross-entropy at 15 % masked positions (80/10/10)
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Mapping, Optional

import numpy as np

from rejoinder.api.spec import ContrastiveLossSpec

from . import losses

if TYPE_CHECKING:
    from .pool_negatives import ReplyBank


class TrainingTask:
    """Adapter between a task model and the loop."""

    name = ""
    def __init__(self, model: Any, seed: int):
        self.model = model
        self.seed = seed

    @property
    def trainable_variables(self) -> list[Any]:
        return list(self.model.trainable_variables)

    def build(self, batch: Mapping[str, Any]) -> None:
        self.model(dict(batch), training=False)

    def prepare_batch(self, batch: dict[str, np.ndarray], step: int, rank: int) -> dict[str, np.ndarray]:
        return batch

    def loss(self, batch: Mapping[str, Any], training: bool):
        raise NotImplementedError


class RetrievalTask(TrainingTask):
    """In-batch softmax; with a `pool` (training.poolNegatives) each context also ranks its
    response above a bank of replies, whose embeddings are re-encoded every
    `pool.refresh_steps` steps with the weights being trained (a constant between refreshes)."""

    name = "retrieval"

    def __init__(self, model: Any, seed: int, pool: Optional["ReplyBank"] = None,
                 loss: Optional[ContrastiveLossSpec] = None):
        super().__init__(model, seed)
        self.pool = pool
        self.loss_spec = loss if loss is not None else ContrastiveLossSpec()
        self._bank: Any = None  # tf.Variable [sample, d]: the pool's embeddings
        self._bank_ids: Any = None  # tf.Variable [sample, L]: their token ids (to skip the positive)
        self._refreshed_at: Optional[int] = None

    def build(self, batch):
        super().build(batch)
        if self.pool is not None:
            import tensorflow as tf

            ids = self.pool.draw(0)
            dim = int(self.model.encode_response(batch["response_ids"][:1]).shape[-1])
            self._bank = tf.Variable(tf.zeros((ids.shape[0], dim), tf.float32), trainable=False, name="pool_embeddings")
            self._bank_ids = tf.Variable(ids, trainable=False, name="pool_ids")

    def prepare_batch(self, batch, step, rank):
        # Every rank refreshes at the same steps from the same (broadcast, then all-reduced)
        # weights, so the banks agree without a collective.
        if self._bank is not None and (self._refreshed_at is None or step - self._refreshed_at >= self.pool.refresh_steps):
            self.refresh(step)
        return batch

    def refresh(self, step: int) -> None:
        from .evaluation import predict

        ids = self.pool.draw(step)
        pad = int(self.model.model_config.special.pad)
        self._bank.assign(predict(lambda f: self.model.encode_response(f["response_ids"]), {"response_ids": ids}, pad_id=pad))
        self._bank_ids.assign(ids)
        self._refreshed_at = step

    def loss(self, batch, training):
        context_emb, response_emb = self.model({"context_ids": batch["context_ids"], "response_ids": batch["response_ids"]},
                                               training=training)
        echo = self.loss_spec.echo_negatives and "echo_ids" in batch
        echo_emb = self.model.encode_response(batch["echo_ids"], training=training) if echo else None
        return losses.in_batch_softmax_loss(context_emb, response_emb, batch["response_ids"],
                                            scale=1.0 / self.loss_spec.temperature,
                                            pool_emb=self._bank, pool_ids=self._bank_ids,
                                            symmetric=self.loss_spec.symmetric,
                                            echo_emb=echo_emb, echo_ids=batch["echo_ids"] if echo else None)


class BinaryTask(TrainingTask):
    """Reranking (upvote) and session scoring: one logit per example against a 0/1 label."""

    def __init__(self, model: Any, seed: int, name: str):
        super().__init__(model, seed)
        self.name = name

    def build(self, batch):
        self.model({k: v for k, v in batch.items() if k != "label"}, training=False)

    def loss(self, batch, training):
        inputs = {k: v for k, v in batch.items() if k != "label"}
        return losses.binary_loss(self.model(inputs, training=training), batch["label"])


def max_predictions(seq_length: int, rate: float = 0.15) -> int:
    """Masked positions per sequence: BERT's 15 % of the length (20 for 128, 12 for 80)."""
    return max(1, math.ceil(seq_length * rate))


class MaskedLMTask(TrainingTask):
    name = "pretraining"

    def __init__(self, model: Any, seed: int, special: Any, vocab_size: int, seq_length: int):
        super().__init__(model, seed)
        self.special = special
        self.vocab_size = vocab_size
        self.max_predictions = max_predictions(seq_length)

    def mask(self, input_ids: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
        from rejoinder.text.masking import mask_tokens

        m = mask_tokens(input_ids, self.special, self.vocab_size, rng, max_predictions=self.max_predictions)
        return {"input_ids": m.input_ids, "masked_positions": m.masked_positions,
                "masked_ids": m.masked_ids, "masked_weights": m.masked_weights}

    def prepare_batch(self, batch, step, rank):
        # Seeded by (seed, rank, step): a resumed run masks exactly as the original would have.
        return self.mask(batch["input_ids"], np.random.default_rng([self.seed, rank, step, 7]))

    def build(self, batch):
        self.model({"input_ids": batch["input_ids"], "masked_positions": batch["masked_positions"]}, training=False)

    def loss(self, batch, training):
        logits = self.model({"input_ids": batch["input_ids"], "masked_positions": batch["masked_positions"]},
                            training=training)
        return losses.masked_lm_loss(logits, batch["masked_ids"], batch["masked_weights"])
