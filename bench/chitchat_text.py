"""Real chat text for the benchmarks: the chitchat corpus through rejoinder's own importer
(rejoinder/datasets: the turns, bounds and fixed split by conversation id the models use).

Benchmarks choose and measure on dev (and index train + dev replies); test is never read here.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from rejoinder.datasets import corpus
from rejoinder.datasets.base import Split
from rejoinder.datasets.presets import corpus_pairs


@lru_cache(maxsize=4)
def _pairs(context_turns: int):
    return corpus_pairs(corpus("chitchat"), context_turns)


def pairs(split: str = "dev", context_turns: int = 2) -> list[tuple[list[str], str]]:
    """(up to `context_turns` turns before a reply, the reply) for every pair of the split."""
    if split == Split.test.value:
        raise ValueError("benchmarks never read the test split")
    preset = _pairs(context_turns)
    rows = preset.records if split == Split.train.value else preset.held
    return [(list(p.context), p.response) for p in rows]


def sample_pairs(count: int, seed: int, split: str = "dev", skip: int = 0) -> list[tuple[list[str], str]]:
    """`count` pairs in a fixed random order; `skip` leaves out the first ones (disjoint samples)."""
    every = pairs(split)
    order = np.random.default_rng(seed).permutation(len(every))
    return [every[i] for i in order[skip : skip + count]]


def replies(count: int) -> list[str]:
    """`count` distinct replies of the candidate pool a retrieval server indexes (the corpus's
    whole pool holds 122,315; train and dev replies come first)."""
    preset = _pairs(2)
    seen = dict.fromkeys(p.response for p in [*preset.records, *preset.held])
    texts = list(seen) + [c.text for c in preset.candidates if c.text not in seen]
    if len(texts) < count:
        raise ValueError(f"only {len(texts)} distinct replies, {count} asked")
    return texts[:count]
