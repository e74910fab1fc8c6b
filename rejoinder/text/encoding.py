"""Token ids → fixed-length int32 arrays with BERT's special tokens.

Fixed shapes are what let XLA compile a model once (per batch size). Contexts are truncated
from the left (the newest words matter most), responses and plain texts from the right.
"""

from __future__ import annotations

from typing import Literal, Sequence

import numpy as np

from .tokenizer import SpecialIds

Truncate = Literal["left", "right"]


def _cut(ids: Sequence[int], keep: int, truncate: Truncate) -> list[int]:
    ids = list(ids)
    if len(ids) <= keep:
        return ids
    return ids[len(ids) - keep :] if truncate == "left" else ids[:keep]


def pack_single(
    token_lists: Sequence[Sequence[int]], length: int, special: SpecialIds, truncate: Truncate = "right"
) -> np.ndarray:
    """[CLS] tokens [SEP] [PAD]… per row → int32 [n, length]."""
    if length < 3:
        raise ValueError(f"sequence length must be at least 3, got {length}")
    out = np.full((len(token_lists), length), special.pad, dtype=np.int32)
    for row, ids in enumerate(token_lists):
        body = [special.cls, *_cut(ids, length - 2, truncate), special.sep]
        out[row, : len(body)] = body
    return out


def pack_pairs(
    context_lists: Sequence[Sequence[int]],
    response_lists: Sequence[Sequence[int]],
    context_length: int,
    response_length: int,
    special: SpecialIds,
) -> tuple[np.ndarray, np.ndarray]:
    """Cross-encoder input: [CLS] context [SEP] response [SEP] [PAD]….

    The context part ([CLS] … [SEP]) has at most `context_length` tokens, truncated from the
    left; the response part (… [SEP]) at most `response_length`, truncated from the right.
    Returns (ids, segment ids), both int32 [n, context_length + response_length].
    """
    if len(context_lists) != len(response_lists):
        raise ValueError(f"{len(context_lists)} contexts but {len(response_lists)} responses")
    if context_length < 3 or response_length < 2:
        raise ValueError("context_length must be ≥ 3 and response_length ≥ 2")
    total = context_length + response_length
    ids = np.full((len(context_lists), total), special.pad, dtype=np.int32)
    segments = np.zeros((len(context_lists), total), dtype=np.int32)
    for row, (ctx, resp) in enumerate(zip(context_lists, response_lists)):
        first = [special.cls, *_cut(ctx, context_length - 2, "left"), special.sep]
        second = [*_cut(resp, response_length - 1, "right"), special.sep]
        ids[row, : len(first) + len(second)] = first + second
        segments[row, len(first) : len(first) + len(second)] = 1
    return ids, segments


def unpad(ids: np.ndarray, special: SpecialIds) -> list[list[int]]:
    """Rows of ids without special tokens (for decoding and tests)."""
    drop = special.all()
    return [[int(i) for i in row if int(i) not in drop] for row in np.asarray(ids)]
