"""Precision: the one policy for training and serving (spec.training.mixedPrecision and
spec.serving.mixedPrecision: auto | none | float16 | bfloat16).

`auto` is float16 where a GPU is present and float32 otherwise: float16 matmuls are slow on
CPUs, which gain nothing from float16 and little from bfloat16 (docs/benchmarks.md). float16
trains with dynamic loss scaling; bfloat16 needs none (float32's exponent range). Variables stay
float32 and the final logits and losses too (the heads build with dtype="float32"): a bundle's
weights are float32 whatever precision it was trained or is served at.

Pure: only `gpu_available` and `dtype_policy` touch Keras / TensorFlow, when called.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Iterator, Optional

# compute dtype → Keras dtype policy
_POLICIES = {"float32": "float32", "float16": "mixed_float16", "bfloat16": "mixed_bfloat16"}
REQUESTS = ("auto", "none", "float32", "float16", "bfloat16")


@dataclass(frozen=True)
class PrecisionChoice:
    compute_dtype: str  # float32 | float16 | bfloat16

    def __post_init__(self) -> None:
        if self.compute_dtype not in _POLICIES:
            raise ValueError(f"compute dtype must be one of {sorted(_POLICIES)}, got {self.compute_dtype!r}")

    @property
    def policy(self) -> str:
        """The Keras dtype policy layers are built under."""
        return _POLICIES[self.compute_dtype]

    @property
    def model_precision(self) -> str:
        """The name build_model / load_bundle take ("none" is float32)."""
        return "none" if self.compute_dtype == "float32" else self.compute_dtype

    @property
    def loss_scaling(self) -> bool:
        return self.compute_dtype == "float16"


def resolve_precision(requested: str, gpu_available: bool) -> PrecisionChoice:
    """A requested precision (a spec's mixedPrecision, a --precision flag) → the compute dtype."""
    if requested == "auto":
        return PrecisionChoice("float16" if gpu_available else "float32")
    if requested in ("none", "float32"):
        return PrecisionChoice("float32")
    if requested in ("float16", "bfloat16"):
        return PrecisionChoice(requested)
    raise ValueError(f"unknown precision {requested!r}: expected auto, none, float16 or bfloat16")


def resolve_on_this_machine(requested: str) -> PrecisionChoice:
    """`resolve_precision` with this machine's GPU (looked for only when `auto` needs it)."""
    return resolve_precision(requested, requested == "auto" and gpu_available())


def gpu_available() -> bool:
    """A GPU that the Keras backend computes on (TensorFlow's view; other backends: no)."""
    import keras

    if keras.backend.backend() != "tensorflow":
        return False
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU"))


@contextlib.contextmanager
def dtype_policy(precision: Optional[str]) -> Iterator[None]:
    """Build layers under a precision (none/float32/float16/bfloat16; None keeps the current
    policy): layers read the global policy when constructed."""
    import keras

    if precision is None:
        yield
        return
    if precision == "auto":
        raise ValueError("resolve precision 'auto' (resolve_precision) before building a model")
    policy = resolve_precision(precision, gpu_available=False).policy
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)
