"""Fixed batch shapes: every model call is padded to one of a few batch sizes (the bundle's
`batch_sizes`), so XLA compiles each shape once at warm-up and never while serving."""

from __future__ import annotations

from typing import Sequence


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

