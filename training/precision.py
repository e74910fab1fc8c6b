"""Mixed precision: which Keras dtype policy a spec asks for, and the loss-scaling optimizer.

`auto` means float16 with dynamic loss scaling where a GPU is present and float32 otherwise:
float16 matmuls are slow on CPUs. bfloat16 needs no loss scaling (same exponent range as
float32). The final logits and losses stay float32 (the model layer builds its heads with
dtype="float32").
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

log = logging.getLogger(__name__)

_POLICIES = {"float32": "float32", "float16": "mixed_float16", "bfloat16": "mixed_bfloat16"}


@dataclass(frozen=True)
class PrecisionChoice:
    compute_dtype: str  # float32 | float16 | bfloat16

    @property
    def policy(self) -> str:
        return _POLICIES[self.compute_dtype]

    @property
    def model_precision(self) -> str:
        """The name rejoinder.models.build_model takes (it sets the policy while building)."""
        return "none" if self.compute_dtype == "float32" else self.compute_dtype

    @property
    def loss_scaling(self) -> bool:
        return self.compute_dtype == "float16"


def resolve_precision(requested: str, gpu_available: bool) -> PrecisionChoice:
    """Map spec.training.mixedPrecision (auto|none|float16|bfloat16) to a compute dtype."""
    if requested == "auto":
        return PrecisionChoice("float16" if gpu_available else "float32")
    if requested == "none":
        return PrecisionChoice("float32")
    if requested in ("float16", "bfloat16"):
        return PrecisionChoice(requested)
    raise ValueError(f"unknown mixed precision setting {requested!r} (auto, none, float16, bfloat16)")


def gpu_available() -> bool:
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU"))


def wrap_optimizer(optimizer, choice: PrecisionChoice):
    """Dynamic loss scaling for float16: scale the loss up, unscale gradients, skip steps with
    non-finite gradients and lower the scale."""
    if not choice.loss_scaling:
        return optimizer
    import keras

    return keras.optimizers.LossScaleOptimizer(optimizer)
