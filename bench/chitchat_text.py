"""Real chat text for the benchmarks: the BYU Chit-Chat corpus (PyPI `chitchat-dataset`, its file
`chitchat_dataset/dataset.json`) with the project's fixed split by conversation id:
h = int(sha256(id).hexdigest()[:8], 16); test if h % 10 == 0, dev if 1, else train.

Benchmarks choose and measure on dev (and index train + dev replies); test is never read here.
A turn is one sender's consecutive messages joined with a space.
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from importlib import resources
from typing import Iterator

import numpy as np


def split_of(conversation_id: str) -> str:
    h = int(hashlib.sha256(conversation_id.encode()).hexdigest()[:8], 16) % 10
    return "test" if h == 0 else "dev" if h == 1 else "train"


@lru_cache(maxsize=1)
def _conversations() -> dict[str, list[str]]:
    data = json.loads(resources.files("chitchat_dataset").joinpath("dataset.json").read_text(encoding="utf-8"))
    out = {}
    for cid in sorted(data):
        turns = [" ".join(m["text"].strip() for m in group).strip() for group in data[cid]["messages"]]
        out[cid] = [t for t in turns if t]
    return out


def conversations(split: str) -> Iterator[tuple[str, list[str]]]:
    if split == "test":
        raise ValueError("benchmarks never read the test split")
    for cid, turns in _conversations().items():
        if split_of(cid) == split:
            yield cid, turns


def pairs(split: str = "dev", context_turns: int = 2) -> list[tuple[list[str], str]]:
    """(the `context_turns` turns before a reply, the reply) for every reply with that many turns before it."""
    return [(turns[i - context_turns : i], turns[i])
            for _, turns in conversations(split) for i in range(context_turns, len(turns))]


def sample_pairs(count: int, seed: int, split: str = "dev", skip: int = 0) -> list[tuple[list[str], str]]:
    """`count` pairs in a fixed random order; `skip` leaves out the first ones (disjoint samples)."""
    every = pairs(split)
    order = np.random.default_rng(seed).permutation(len(every))
    return [every[i] for i in order[skip : skip + count]]


def replies(count: int, splits: tuple[str, ...] = ("train", "dev")) -> list[str]:
    """`count` distinct turns (the candidate pool a retrieval server indexes), train then dev."""
    seen: dict[str, None] = {}
    for split in splits:
        for _, turns in conversations(split):
            for turn in turns:
                seen.setdefault(turn, None)
    texts = list(seen)
    if len(texts) < count:
        raise ValueError(f"only {len(texts)} distinct turns in {splits}, {count} asked")
    return texts[:count]
