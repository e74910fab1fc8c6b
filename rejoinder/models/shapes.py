"""The shapes a model is run at: a few batch sizes × a few sequence lengths ("buckets").

One pure policy that the server (batchifier, runtime) and bulk encoding (build-index,
evaluation) share. A batch of rows is padded to the smallest batch size that holds its rows and
to the smallest sequence bucket that holds its longest row, so XLA compiles each
(batch size, sequence length) pair once at warm-up and never while serving. Chat turns are
short (a chatterbot 2-turn context is ~12 WordPiece tokens with [CLS]/[SEP]), so padding every
row to maxSeqLength would make most of the encoder's work padding.

`SequenceBuckets((L,))` — one bucket, the full length — is the fixed-length behaviour.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping, Optional, Sequence

import numpy as np

BUCKET_STEP = 16
# Bulk encoding (build-index, evaluation) off XLA: each new shape is a cheap retrace rather than
# a compile, so its default buckets are twice as fine.
BULK_BUCKET_STEP = 8


def default_sequence_buckets(max_length: int, step: int = BUCKET_STEP) -> tuple[int, ...]:
    """Multiples of `step` below the maximum, plus the maximum: 16, 32, 48, 64, 80 for 80."""
    if max_length < 1:
        raise ValueError(f"max_length must be at least 1, got {max_length}")
    return tuple(range(step, max_length, step)) + (max_length,)


def batch_sizes_up_to(max_batch_size: int) -> tuple[int, ...]:
    """Powers of two below the maximum, plus the maximum: 1, 2, 4, 8, 16, 32 for 32; 1, 2, 4, 6 for 6."""
    if max_batch_size < 1:
        raise ValueError(f"max_batch_size must be at least 1, got {max_batch_size}")
    sizes = [1]
    while sizes[-1] * 2 < max_batch_size:
        sizes.append(sizes[-1] * 2)
    if sizes[-1] != max_batch_size:
        sizes.append(max_batch_size)
    return tuple(sizes)


def smallest_holding(n: int, sizes: Sequence[int]) -> int:
    """The smallest of the ascending `sizes` that is ≥ n (n never exceeds the largest)."""
    for size in sizes:
        if n <= size:
            return size
    raise ValueError(f"{n} exceeds the largest shape {sizes[-1]}")


@dataclass(frozen=True)
class SequenceBuckets:
    """Ascending sequence lengths; the last is the model's full input length."""

    lengths: tuple[int, ...]

    def __post_init__(self) -> None:
        if not self.lengths or any(b < 1 for b in self.lengths) or list(self.lengths) != sorted(set(self.lengths)):
            raise ValueError(f"sequence buckets must be positive and strictly increasing, got {list(self.lengths)}")

    @classmethod
    def for_length(cls, full_length: int, configured: Optional[Iterable[int]] = None) -> "SequenceBuckets":
        """The buckets of an input whose packed width is `full_length`: the configured ones below
        it (default `default_sequence_buckets`), plus the full length itself — a row is never
        cut shorter than the featurizer packed it."""
        chosen = default_sequence_buckets(full_length) if configured is None else sorted(set(configured))
        return cls(tuple(b for b in chosen if b < full_length) + (full_length,))

    @property
    def full(self) -> int:
        return self.lengths[-1]

    def bucket(self, length: int) -> int:
        """The sequence length a row (or batch) whose longest row has `length` tokens is run at."""
        return smallest_holding(max(1, length), self.lengths)


def row_lengths(features: Mapping[str, np.ndarray], pad_id: int) -> np.ndarray:
    """Tokens up to the last non-padding one, per row, over every id array (`*_ids` but
    segment ids). Rows are packed left-aligned ([CLS] … [SEP] [PAD]…), so cutting columns past
    this length drops only padding."""
    arrays = [np.asarray(v) for k, v in features.items() if k.endswith("_ids") and k != "segment_ids"]
    if not arrays:
        raise ValueError(f"no token id arrays among {sorted(features)}")
    out = np.zeros(arrays[0].shape[0], dtype=np.int64)
    for ids in arrays:
        real = ids != pad_id
        # index of the last real token + 1 (0 for an all-padding row)
        last = ids.shape[1] - np.argmax(real[:, ::-1], axis=1)
        out = np.maximum(out, np.where(real.any(axis=1), last, 0))
    return out


def trim(features: Mapping[str, np.ndarray], length: int) -> dict[str, np.ndarray]:
    """Keep the first `length` columns of every sequence array (ids and segment ids)."""
    return {k: (v[:, :length] if k.endswith("_ids") else v) for k, v in features.items()}


@dataclass(frozen=True)
class Chunk:
    """Rows `rows` (indices into the input) run together at `length` tokens per row."""

    rows: np.ndarray
    length: int


def plan_chunks(
    lengths: Sequence[int], buckets: SequenceBuckets, max_rows: int, max_tokens: Optional[int] = None
) -> list[Chunk]:
    """Bulk encoding: rows sorted by length, cut into chunks of at most `max_rows` rows and (when
    given) `max_tokens` padded tokens, each run at its longest row's bucket. Every row appears in
    exactly one chunk; callers scatter the results back to the original order."""
    if max_rows < 1:
        raise ValueError(f"max_rows must be at least 1, got {max_rows}")
    order = np.argsort(np.asarray(lengths, dtype=np.int64), kind="stable")
    chunks: list[Chunk] = []
    start = 0
    while start < len(order):
        stop = min(start + max_rows, len(order))
        if max_tokens is not None:
            # lengths ascend, so the chunk's bucket is its last row's: shrink until it fits
            while stop - start > 1 and (stop - start) * buckets.bucket(int(lengths[order[stop - 1]])) > max_tokens:
                stop -= 1
        chunks.append(Chunk(order[start:stop], buckets.bucket(int(lengths[order[stop - 1]]))))
        start = stop
    return chunks
