"""Embeddings of an unchanged model (and other model-independent results), computed once per machine.

Every version of a DialogModel is compared with the same untrained start (spec.model.init), and
on a real pool (chitchat: 122k replies, 28k held-out contexts) encoding it again for each version
costs minutes. The key is everything the embeddings depend on: the model's weights, its input
lengths and tokenizer, and the texts; a hit is a file of that name, written atomically. The
lexical baseline's per-query values, which depend on the texts alone, are kept the same way.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from rejoinder import atomic

log = logging.getLogger(__name__)


def model_fingerprint(model: Any) -> str:
    digest = hashlib.sha256()
    for variable in model.weights:
        digest.update(variable.path.encode() if hasattr(variable, "path") else b"")
        digest.update(np.ascontiguousarray(np.asarray(variable)).tobytes())
    return digest.hexdigest()


def texts_fingerprint(contexts: Sequence[Sequence[str]], texts: Sequence[str]) -> str:
    return hashlib.sha256(json.dumps([list(map(list, contexts)), list(texts)], ensure_ascii=False).encode()).hexdigest()


class EmbeddingCache:
    def __init__(self, directory: Path):
        self.directory = Path(directory)

    def key(self, model: Any, featurizer: Any, contexts: Sequence[Sequence[str]], texts: Sequence[str]) -> str:
        parts = {
            "weights": model_fingerprint(model),
            "sequence": repr(featurizer.config),
            "tokenizer": repr(getattr(featurizer.tokenizer, "special", None)) + str(featurizer.tokenizer.vocab_size),
            "texts": texts_fingerprint(contexts, texts),
        }
        return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:24]

    def get_or_compute(self, model: Any, featurizer: Any, contexts: Sequence[Sequence[str]], texts: Sequence[str],
                       compute: Callable[[], tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
        key = self.key(model, featurizer, contexts, texts)
        found = self.arrays(key, lambda: dict(zip(("contexts", "pool"), compute())))
        return found["contexts"], found["pool"]

    def arrays(self, key: str, compute: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
        """Named arrays stored under `key` (computed and stored when absent)."""
        path = self.directory / f"{key}.npz"
        if path.is_file():
            with np.load(path) as stored:
                log.info("reusing %s from the cache %s", ", ".join(stored.files), path)
                return {name: stored[name] for name in stored.files}
        found = compute()
        self.directory.mkdir(parents=True, exist_ok=True)
        buffer = io.BytesIO()
        np.savez(buffer, **found)
        atomic.write_bytes(path, buffer.getvalue())
        return found
