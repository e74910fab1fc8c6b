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
    """Arrays of the task's input names and shapes (all [CLS] [SEP] [PAD]…) to create a model's variables."""

    def ids(length: int) -> np.ndarray:
        out = np.full((batch, length), config.special.pad, dtype=np.int32)
        out[:, 0] = config.special.cls
        out[:, 1] = config.special.sep
        return out

    return {
        name: np.zeros((batch, length), np.int32) if name == "segment_ids" else ids(length)
        for name, length in config.definition.input_lengths(config).items()
    }


def build_model(config: ModelConfig, precision: Optional[str] = None):
    """Construct the task model for `config` and create its variables (random initial values)."""
    with dtype_policy(precision):
        model = config.definition.head(config)
        model(dummy_inputs(config), training=False)
    return model
