"""training.poolNegatives: a bank of replies as extra negatives for retrieval.

In-batch softmax shows each context only the batch's replies (16 per rank here); a bank of all
the training replies (or of the whole candidate pool) shows it many more, at the cost of one
re-encoding of the bank every refreshSteps steps and no gradient through it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np


@dataclass(frozen=True)
class ReplyBank:
    """The bank's replies, featurized ([N, L] token ids)."""

    ids: np.ndarray
    refresh_steps: int
    sample: int
    seed: int

    def draw(self, step: int) -> np.ndarray:
        """All of them, or a fixed-size seeded sample drawn anew per refresh step (the same on
        every rank, so the ranks' losses stay comparable)."""
        if self.ids.shape[0] <= self.sample:
            return self.ids
        rng = np.random.default_rng([self.seed, step])
        return self.ids[np.sort(rng.choice(self.ids.shape[0], self.sample, replace=False))]


def reply_bank(spec: Any, data_dir: Path, tokenizer: Any) -> Optional[ReplyBank]:
    """The bank for `spec.training.poolNegatives` from the prepared data (the training pairs'
    distinct replies, or every candidate); None when the spec does not ask for it."""
    from rejoinder.api.spec import NegativePool
    from rejoinder.text.features import Featurizer, SequenceConfig

    from .pipeline import load_prepared

    options = spec.training.pool_negatives
    if options is None:
        return None
    prepared = load_prepared(data_dir)
    if prepared is None:
        raise ValueError(f"training.poolNegatives: no prepared data in {data_dir}")
    if options.pool == NegativePool.candidates:
        texts = [c.text for c in prepared.candidates()]
    else:
        texts = list(dict.fromkeys(p.response for p in prepared.train()))
    if not texts:
        raise ValueError(f"training.poolNegatives: {data_dir} has no {options.pool.value} replies")
    ids = Featurizer(tokenizer, SequenceConfig.from_spec(spec)).responses(texts)
    return ReplyBank(np.asarray(ids), options.refresh_steps, options.sample, spec.training.seed)
