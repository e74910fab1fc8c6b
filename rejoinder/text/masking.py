"""BERT's masked-LM corruption of fixed-length id arrays (pure numpy, so it runs in input pipelines).

Of the maskable positions (not special tokens), `rate` are chosen; of those 80 % become
[MASK], 10 % a random id and 10 % stay. Returns the corrupted ids, the positions chosen (padded
to `max_predictions` per row with 0), the original ids there, and a 0/1 weight per position.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .tokenizer import SpecialIds


@dataclass(frozen=True)
class MaskedBatch:
    input_ids: np.ndarray  # int32 [n, L]
    masked_positions: np.ndarray  # int32 [n, P]
    masked_ids: np.ndarray  # int32 [n, P]
    masked_weights: np.ndarray  # float32 [n, P]


def mask_tokens(
    ids: np.ndarray,
    special: SpecialIds,
    vocab_size: int,
    rng: np.random.Generator,
    *,
    rate: float = 0.15,
    max_predictions: int = 12,
) -> MaskedBatch:
    ids = np.asarray(ids, dtype=np.int32)
    n, _ = ids.shape
    out = ids.copy()
    positions = np.zeros((n, max_predictions), dtype=np.int32)
    originals = np.zeros((n, max_predictions), dtype=np.int32)
    weights = np.zeros((n, max_predictions), dtype=np.float32)
    maskable = ~np.isin(ids, list(special.all()))
    for row in range(n):
        candidates = np.flatnonzero(maskable[row])
        if candidates.size == 0:
            continue
        count = min(max_predictions, max(1, int(round(candidates.size * rate))))
        chosen = np.sort(rng.choice(candidates, size=count, replace=False))
        positions[row, :count] = chosen
        originals[row, :count] = ids[row, chosen]
        weights[row, :count] = 1.0
        roll = rng.random(count)
        out[row, chosen[roll < 0.8]] = special.mask
        random_at = chosen[(roll >= 0.8) & (roll < 0.9)]
        out[row, random_at] = rng.integers(0, vocab_size, size=random_at.size)
    return MaskedBatch(out, positions, originals, weights)
