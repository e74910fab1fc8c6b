"""ModelConfig → a built Keras task model (variables created, ready to load weights or train)."""

from __future__ import annotations

import contextlib
from typing import Iterator, Optional

import numpy as np

from .config import ModelConfig

# Keras dtype policy per precision name used by spec.serving / spec.training.
POLICIES = {"none": "float32", "float32": "float32", "float16": "mixed_float16", "bfloat16": "mixed_bfloat16"}


@contextlib.contextmanager
def dtype_policy(precision: Optional[str]) -> Iterator[None]:
    """Build layers under a precision policy (layers read the global policy when constructed)."""
    import keras

    if precision is None:
        yield
        return
    if precision not in POLICIES:
        raise ValueError(f"precision must be one of {sorted(POLICIES)}, got {precision!r}")
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(POLICIES[precision])
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def dummy_inputs(config: ModelConfig, batch: int = 2) -> dict[str, np.ndarray]:
    """Arrays of the right names and shapes (all [CLS]…) to create a model's variables."""
    seq = config.sequence
    def ids(length: int) -> np.ndarray:
        out = np.full((batch, length), config.special.pad, dtype=np.int32)
        out[:, 0] = config.special.cls
        out[:, 1] = config.special.sep
        return out

    if config.task == "retrieval" or (config.task == "reranking" and config.architecture == "qa-lstm"):
        return {"context_ids": ids(seq.max_seq_length), "response_ids": ids(seq.max_seq_length)}
    if config.task == "reranking":
        total = seq.context_length + seq.response_length
        return {"input_ids": ids(total), "segment_ids": np.zeros((batch, total), np.int32)}
    return {"input_ids": ids(seq.max_seq_length)}


def build_model(config: ModelConfig, precision: Optional[str] = None):
    """Construct the task model for `config` and create its variables (random initial values)."""
    from . import heads

    with dtype_policy(precision):
        if config.task == "retrieval":
            model = heads.DualEncoder(config)
        elif config.task == "reranking":
            model = heads.CrossEncoder(config) if config.architecture == "bert" else heads.QALstmReranker(config)
        elif config.task == "session-scoring":
            model = heads.SequenceClassifier(config)
        else:
            model = heads.MaskedLM(config)
        model(dummy_inputs(config), training=False)
    return model
