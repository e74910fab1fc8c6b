"""Pre-tokenized training data: the featurized arrays split into shards, one or more per rank.

    shards/
        shard-00000-of-00002.npz   rows i with i % 2 == 0 (every array of the task)
        shard-00001-of-00002.npz
        shards.json                written last: shard names, rows per shard, arrays, fingerprint

Tokenizing once on rank 0 and handing every rank its own rows means no rank tokenizes on the
hot path and no two ranks see the same example in an epoch. Rank r of n reads the shards
i with i % n == r, so a run with fewer ranks than shards still covers all the data.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from rejoinder import atomic

log = logging.getLogger(__name__)

MANIFEST = "shards.json"


@dataclass(frozen=True)
class ShardSet:
    directory: Path
    names: list[str]
    rows: list[int]
    arrays: dict[str, Any]  # name -> {"dtype", "shape" (per row)}
    fingerprint: str

    @property
    def count(self) -> int:
        return len(self.names)

    def rank_shards(self, rank: int, size: int) -> list[int]:
        return [i for i in range(self.count) if i % size == rank]

    def rank_rows(self, rank: int, size: int) -> int:
        return sum(self.rows[i] for i in self.rank_shards(rank, size))

    def min_rank_rows(self, size: int) -> int:
        return min(self.rank_rows(r, size) for r in range(size))


def fingerprint(features: Mapping[str, np.ndarray], extra: Mapping[str, Any]) -> str:
    h = hashlib.sha256(json.dumps(dict(extra), sort_keys=True, default=str).encode())
    for name in sorted(features):
        h.update(name.encode())
        h.update(np.ascontiguousarray(features[name]).tobytes())
    return h.hexdigest()[:16]


def write_shards(directory: Path, features: Mapping[str, np.ndarray], num_shards: int, extra: Mapping[str, Any]) -> ShardSet:
    """Split `features` (equal-length arrays) round-robin into `num_shards` .npz files and
    publish the directory in one rename (readers see the old set or the complete new one)."""
    if num_shards < 1:
        raise ValueError("need at least one shard")
    lengths = {name: len(a) for name, a in features.items()}
    if len(set(lengths.values())) != 1:
        raise ValueError(f"feature arrays differ in length: {lengths}")
    n = next(iter(lengths.values()))
    if n < num_shards:
        raise ValueError(f"{n} training examples cannot fill {num_shards} shards (one per process); add data")
    names, rows = [], []
    with atomic.publish_dir(directory) as tmp:
        for i in range(num_shards):
            name = f"shard-{i:05d}-of-{num_shards:05d}.npz"
            part = {k: np.ascontiguousarray(v[i::num_shards]) for k, v in features.items()}
            np.savez(tmp / name, **part)
            names.append(name)
            rows.append(len(next(iter(part.values()))))
        arrays = {k: {"dtype": str(v.dtype), "shape": list(v.shape[1:])} for k, v in features.items()}
        shard_set = ShardSet(directory, names, rows, arrays, fingerprint(features, extra))
        atomic.write_json(tmp / MANIFEST, {"names": names, "rows": rows, "arrays": arrays,
                                           "fingerprint": shard_set.fingerprint, "extra": dict(extra)})
    log.info("wrote %d examples into %d shard(s) in %s", n, num_shards, directory)
    return shard_set


def read_manifest(directory: Path) -> ShardSet | None:
    path = directory / MANIFEST
    if not path.is_file():
        return None
    info = json.loads(path.read_text(encoding="utf-8"))
    return ShardSet(directory, list(info["names"]), list(info["rows"]), dict(info["arrays"]), str(info["fingerprint"]))


def load_rank(shard_set: ShardSet, rank: int, size: int) -> dict[str, np.ndarray]:
    """This rank's rows: its shards, concatenated."""
    mine = shard_set.rank_shards(rank, size)
    if not mine:
        raise ValueError(f"rank {rank} of {size} has no shard ({shard_set.count} shard(s)); re-shard for {size} processes")
    parts = []
    for i in mine:
        with np.load(shard_set.directory / shard_set.names[i]) as data:
            parts.append({k: data[k] for k in data.files})
    return {k: np.concatenate([p[k] for p in parts]) for k in shard_set.arrays}
