"""Fixed batch shapes: every model call is padded to one of a few batch sizes, so XLA compiles
each shape once at warm-up and never while serving."""

from __future__ import annotations

from typing import Callable, Sequence, TypeVar

import numpy as np

T = TypeVar("T")


def batch_shapes(max_batch_size: int) -> tuple[int, ...]:
    """Powers of two below the maximum, plus the maximum: 1, 2, 4, 8, 16, 32 for 32; 1, 2, 4, 6 for 6."""
    if max_batch_size < 1:
        raise ValueError(f"max_batch_size must be at least 1, got {max_batch_size}")
    shapes = [1]
    while shapes[-1] * 2 < max_batch_size:
        shapes.append(shapes[-1] * 2)
    if shapes[-1] != max_batch_size:
        shapes.append(max_batch_size)
    return tuple(shapes)


def shape_for(rows: int, shapes: Sequence[int]) -> int:
    """The smallest shape that holds `rows` (rows never exceed the largest shape)."""
    for shape in shapes:
        if rows <= shape:
            return shape
    raise ValueError(f"{rows} rows exceed the largest batch shape {shapes[-1]}")


def run_in_shapes(fn: Callable[[list[T]], np.ndarray], rows: Sequence[T], shapes: Sequence[int]) -> np.ndarray:
    """fn over `rows` in chunks of at most the largest shape, each padded (by repeating its last
    row) to a fixed shape; padding rows' outputs are dropped. Returns the outputs concatenated."""
    if not rows:
        raise ValueError("no rows to run")
    largest = shapes[-1]
    outputs = []
    for start in range(0, len(rows), largest):
        chunk = list(rows[start : start + largest])
        padded = chunk + [chunk[-1]] * (shape_for(len(chunk), shapes) - len(chunk))
        out = np.asarray(fn(padded))
        if out.shape[0] != len(padded):
            raise RuntimeError(f"model returned {out.shape[0]} rows for a batch of {len(padded)}")
        outputs.append(out[: len(chunk)])
    return np.concatenate(outputs, axis=0)
