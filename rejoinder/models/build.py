"""ModelConfig → a built Keras task model (variables created, ready to load weights or train)."""

from __future__ import annotations

from typing import Optional

import numpy as np

from .config import ModelConfig
from .precision import dtype_policy

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
