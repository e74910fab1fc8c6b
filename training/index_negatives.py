"""training.indexNegatives: the candidate pool (what the index will hold) as extra negatives.

Held-out retrieval ranks a context's reply against every candidate, but in-batch softmax only
ever shows the model the batch's own replies. Fine-tuning then pulls the training replies
towards contexts in general, and replies that training never saw as positives (the held-out
ones, and in production most of the index) fall behind. Scoring every context against the
pool as well teaches the ranking that is evaluated and served. Only the replies' texts are
used, never which context a held-out reply belongs to.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np


@dataclass(frozen=True)
class CandidatePool:
    """The index's candidate responses, featurized ([N, L] token ids)."""

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


def candidate_pool(spec: Any, data_dir: Path, tokenizer: Any) -> Optional[CandidatePool]:
    """The pool for `spec.training.indexNegatives`, from the prepared data's candidates; None
    when the spec does not ask for it."""
    from rejoinder.text.features import Featurizer, SequenceConfig

    from .pipeline import load_prepared

    options = spec.training.index_negatives
    if options is None:
        return None
    prepared = load_prepared(data_dir)
    candidates = prepared.candidates() if prepared is not None else []
    if not candidates:
        raise ValueError(f"training.indexNegatives: {data_dir} has no candidate pool (candidates.jsonl)")
    ids = Featurizer(tokenizer, SequenceConfig.from_spec(spec)).responses([c.text for c in candidates])
    return CandidatePool(np.asarray(ids), options.refresh_steps, options.sample, spec.training.seed)
