"""Fixed batch shapes: every model call is padded to one of a few batch sizes (the bundle's
`batch_sizes`), so XLA compiles each shape once at warm-up and never while serving. The rule
lives in `rejoinder.models.shapes` (with the sequence buckets); these are the server's names."""

from __future__ import annotations

from rejoinder.models.shapes import batch_sizes_up_to as batch_shapes
from rejoinder.models.shapes import smallest_holding as shape_for

__all__ = ["batch_shapes", "shape_for"]
