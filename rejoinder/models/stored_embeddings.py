"""A version's encodings kept for its index: what evaluation computed, build-index reuses.

Training's evaluation encodes the whole candidate pool (and the held-out contexts) with the
exported bundle exactly as its server will (training/served_encoders.py). The index needs the
same pool vectors, so they are written to versions/<v>/embeddings/ and `rejoinder build-index`
takes them instead of encoding 100k+ replies again — only when they are the same texts encoded
by the same bundle version with the same runtime and precision; anything else is re-encoded.

    pool.npy      vectors [n, d] of the candidate texts, in their order
    contexts.npy  vectors [m, d] of the held-out (dev) contexts: real queries for recall@20
    meta.json     {version, runtime, precision, poolSha256, contextsSha256, ...}
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

from rejoinder import atomic

log = logging.getLogger(__name__)

DIR = "embeddings"


def texts_sha256(texts: Sequence[Any]) -> str:
    return hashlib.sha256(json.dumps(list(texts), ensure_ascii=False).encode()).hexdigest()


def _write_npy(path: Path, array: np.ndarray) -> None:
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(array, dtype=np.float32))
    atomic.write_bytes(path, buffer.getvalue())


def engine_of(bundle: Any) -> tuple[str, str]:
    """(runtime, precision) a loaded ModelBundle runs with: what the stored vectors are keyed by."""
    return getattr(bundle, "runtime", "tensorflow"), str(getattr(bundle, "precision", ""))


def save(version_dir: Path, *, version: str, runtime: str, precision: str, texts: Sequence[str], pool: np.ndarray,
         contexts: Sequence[Sequence[str]], context_vectors: np.ndarray) -> Path:
    where = Path(version_dir) / DIR
    where.mkdir(parents=True, exist_ok=True)
    _write_npy(where / "pool.npy", pool)
    _write_npy(where / "contexts.npy", context_vectors)
    atomic.write_json(where / "meta.json", {
        "version": version, "runtime": runtime, "precision": precision,
        "poolSha256": texts_sha256(texts), "count": len(texts),
        "contextsSha256": texts_sha256([list(c) for c in contexts]), "contexts": len(contexts),
    })  # last: the files above are complete once this names them
    return where


def _meta(version_dir: Path) -> Optional[dict[str, Any]]:
    path = Path(version_dir) / DIR / "meta.json"
    return json.loads(path.read_text()) if path.is_file() else None


def load_pool(version_dir: Path, *, version: str, runtime: str, precision: str, texts: Sequence[str]) -> Optional[np.ndarray]:
    """The stored pool vectors when they are exactly these texts by this engine; else None."""
    meta = _meta(version_dir)
    wanted = {"version": version, "runtime": runtime, "precision": precision, "poolSha256": texts_sha256(texts)}
    if meta is None or any(meta.get(k) != v for k, v in wanted.items()):
        if meta is not None:
            log.info("stored embeddings of %s do not match (%s): encoding again", version_dir,
                     {k: (meta.get(k), v) for k, v in wanted.items() if meta.get(k) != v})
        return None
    return np.load(Path(version_dir) / DIR / "pool.npy")


def load_contexts(version_dir: Path, *, version: str, runtime: str, precision: str) -> Optional[np.ndarray]:
    """The stored held-out context vectors by this engine (recall queries), or None."""
    meta = _meta(version_dir)
    if meta is None or (meta.get("version"), meta.get("runtime"), meta.get("precision")) != (version, runtime, precision):
        return None
    return np.load(Path(version_dir) / DIR / "contexts.npy")
