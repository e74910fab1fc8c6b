"""Deterministic, resumable batching over one rank's pre-tokenized examples.

The order of epoch e is a permutation seeded by (seed, rank, e), so the batch at any global
step can be recomputed: resuming at step s needs only s (stored in the checkpoint), not an
iterator's hidden state. Every batch has exactly `batch_size` rows (drop remainder), which
keeps shapes fixed for XLA, and every rank runs the same number of steps per epoch (the
smallest shard decides) so collective ops never wait on a rank that has run out of data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Mapping

import numpy as np


@dataclass(frozen=True)
class BatchPlan:
    num_examples: int  # this rank's examples
    batch_size: int
    steps_per_epoch: int
    seed: int
    rank: int = 0

    @classmethod
    def for_rank(cls, num_examples: int, batch_size: int, seed: int, rank: int, min_rank_examples: int) -> "BatchPlan":
        steps = min_rank_examples // batch_size
        if steps < 1:
            raise ValueError(
                f"batch size {batch_size} is larger than the {min_rank_examples} examples the smallest "
                "rank has; lower training.batchSizePerGpu or add data"
            )
        return cls(num_examples, batch_size, steps, seed, rank)

    def order(self, epoch: int) -> np.ndarray:
        rng = np.random.default_rng([self.seed, self.rank, epoch])
        return rng.permutation(self.num_examples)[: self.steps_per_epoch * self.batch_size]

    def indices(self, step: int) -> np.ndarray:
        """Example indices of global step `step` (0-based)."""
        epoch, offset = divmod(step, self.steps_per_epoch)
        start = offset * self.batch_size
        return self.order(epoch)[start : start + self.batch_size]

    def position(self, step: int) -> dict[str, int]:
        """Where step `step` sits in the data (recorded in checkpoints for humans)."""
        epoch, offset = divmod(step, self.steps_per_epoch)
        return {"epoch": epoch, "batchInEpoch": offset, "examplesSeenPerRank": step * self.batch_size}


def iterate(arrays: Mapping[str, np.ndarray], plan: BatchPlan, start_step: int, end_step: int) -> Iterator[tuple[int, dict[str, np.ndarray]]]:
    """(step, batch) for steps start_step..end_step-1; batches are dicts of row-selected arrays."""
    cached_epoch, order = -1, None
    for step in range(start_step, end_step):
        epoch, offset = divmod(step, plan.steps_per_epoch)
        if epoch != cached_epoch:
            cached_epoch, order = epoch, plan.order(epoch)
        idx = order[offset * plan.batch_size : (offset + 1) * plan.batch_size]
        yield step, {name: array[idx] for name, array in arrays.items()}
