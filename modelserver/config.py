"""Serving configuration, resolved once: the DialogModel's `spec.serving` (without -f: the API's
own defaults), then the `rejoinder serve` flags that were given.

The API types (`rejoinder.api.spec.ServingSpec`, `BatchingSpec`, `DataSpec`) are the one source
of every serving default: the dataclasses here take theirs from them, so a default changed in
the API changes the CRD, the operator's pods and a bare `rejoinder serve --bundle` together.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from rejoinder.api.spec import BatchingSpec, DataSpec, ServingSpec

SERVING_DEFAULTS = ServingSpec()
_BATCHING = BatchingSpec()
DEFAULT_MAX_CONTEXT_TURNS: int = DataSpec.model_fields["max_context_turns"].default


@dataclass(frozen=True)
class BatchingConfig:
    """How the batchifiers group requests (spec.serving.batching, in seconds rather than ms)."""

    max_batch_size: int = _BATCHING.max_batch_size
    max_delay_s: float = _BATCHING.max_queue_delay_ms / 1000.0
    capacity: int = _BATCHING.queue_capacity
    sequence_buckets: Optional[tuple[int, ...]] = None  # None: derived from the model's lengths
    max_batch_tokens: Optional[int] = _BATCHING.max_batch_tokens

    @classmethod
    def from_spec(cls, b: BatchingSpec) -> "BatchingConfig":
        return cls(b.max_batch_size, b.max_queue_delay_ms / 1000.0, b.queue_capacity,
                   tuple(b.sequence_buckets) if b.sequence_buckets else None, b.max_batch_tokens)


@dataclass(frozen=True)
class ServingFlags:
    """What the command line overrides; None (or 0 for counts) = not given."""

    max_batch_size: Optional[int] = None
    max_delay_ms: Optional[float] = None
    queue_capacity: Optional[int] = None
    sequence_buckets: Optional[tuple[int, ...]] = None
    max_batch_tokens: Optional[int] = None
    precision: Optional[str] = None
    runtime: Optional[str] = None
    xla: Optional[bool] = None
    top_k: Optional[int] = None


@dataclass(frozen=True)
class ServingConfig:
    batching: BatchingConfig
    precision: str  # auto | none | float16 | bfloat16 | int8 (resolved at load: rejoinder.inference.choice)
    runtime: str  # auto | tensorflow | onnxruntime
    xla: bool
    top_k: int  # Retrieve's default k
    max_context_turns: int  # turns the model sees (spec.data.maxContextTurns)
    gpu: bool  # FAISS index on a GPU (spec.serving.gpus > 0)


def resolve_serving(spec: Optional[Any], flags: ServingFlags = ServingFlags()) -> ServingConfig:
    """`spec` (a DialogModelSpec, or None for the API's defaults), then `flags`."""
    serving = spec.serving if spec is not None else SERVING_DEFAULTS
    b = BatchingConfig.from_spec(serving.batching)
    batching = BatchingConfig(
        flags.max_batch_size or b.max_batch_size,
        flags.max_delay_ms / 1000.0 if flags.max_delay_ms is not None else b.max_delay_s,
        flags.queue_capacity or b.capacity,
        flags.sequence_buckets or b.sequence_buckets,
        flags.max_batch_tokens or b.max_batch_tokens,
    )
    return ServingConfig(
        batching=batching,
        precision=str(flags.precision or serving.mixed_precision),
        runtime=str(flags.runtime or serving.runtime),
        xla=serving.xla if flags.xla is None else flags.xla,
        top_k=flags.top_k or serving.top_k,
        max_context_turns=spec.data.max_context_turns if spec is not None else DEFAULT_MAX_CONTEXT_TURNS,
        gpu=serving.gpus > 0,
    )
