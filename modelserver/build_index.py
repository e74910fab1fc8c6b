"""`rejoinder build-index`: encode the candidate responses and publish their FAISS index.

1. encode every candidate with the bundle's response encoder, in batches (progress bar), sorted
   by token length so each batch runs at a short sequence bucket (results in the input order);
2. build the index per spec.index (L2-normalised vectors, inner product = cosine);
   (training's evaluation stores them, rejoinder/models/stored_embeddings.py: reused when they
   are these texts encoded by this bundle with this runtime and precision);
3. measure recall@20 against exact search on `recallSample` queries from the query tower, as
   real requests are: the held-out (dev) contexts training encoded, else candidate texts asked
   as one-turn contexts; kind
   auto (the default) is exact below spec.index.approximateFrom candidates and HNSW from there,
   with efSearch raised until recall@20 reaches spec.index.minRecall;
4. publish versions/<v>/index/<i>/ in one rename with index.json (the completion file) last.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import numpy as np
from tqdm import tqdm

from . import index as ix

log = logging.getLogger(__name__)

ENCODE_BATCH = 256


def encode_in_batches(
    encode: Callable[[list[Any]], np.ndarray], items: Sequence[Any], batch_size: int = ENCODE_BATCH,
    desc: str = "encode", lengths: Optional[Sequence[int]] = None,
) -> np.ndarray:
    """encode() over items in batches with a progress bar; the last batch is padded to the same
    shape (so a compiled model sees one shape) and the padding rows are dropped. With `lengths`
    (tokens per item) items are encoded shortest first — neighbours share a sequence bucket —
    and the vectors come back in the input order."""
    order = np.argsort(np.asarray(lengths), kind="stable") if lengths is not None else np.arange(len(items))
    out = []
    with tqdm(total=len(items), desc=desc, unit="text", mininterval=2.0) as bar:
        for start in range(0, len(items), batch_size):
            chunk = [items[i] for i in order[start : start + batch_size]]
            padded = chunk + [chunk[-1]] * (min(batch_size, len(items)) - len(chunk))
            out.append(np.asarray(encode(padded), dtype=np.float32)[: len(chunk)])
            bar.update(len(chunk))
    vectors = np.concatenate(out, axis=0)
    restored = np.empty_like(vectors)
    restored[order] = vectors
    return restored


def build_and_publish(
    bundle: Any,
    ids: Sequence[str],
    texts: Sequence[str],
    params: ix.IndexParams,
    target: Path,
    *,
    recall_sample: int = 1000,
    use_gpu: bool = False,
    batch_size: int = ENCODE_BATCH,
    extra: Optional[dict[str, Any]] = None,
    vectors: Optional[np.ndarray] = None,
    queries: Optional[np.ndarray] = None,
) -> dict[str, Any]:
    """Encode, build, measure and publish; returns the index.json written. `vectors`: the
    candidates' encodings when they are already known (training's evaluation stored them);
    `queries`: real context encodings to measure recall@20 on (held-out contexts)."""
    if not texts:
        raise ValueError("no candidate responses to index")
    if len(set(ids)) != len(ids):
        raise ValueError("candidate ids must be unique")
    started = time.perf_counter()
    reused = vectors is not None
    with ix.timed(f"encoding {len(texts)} candidates" if not reused else "reusing the stored encodings") as t_encode:
        if vectors is None:
            vectors = encode_in_batches(
                bundle.encode_responses, list(texts), batch_size, "encode candidates", bundle.lengths("response", texts)
            )
        elif len(vectors) != len(texts):
            raise ValueError(f"{len(vectors)} stored vectors for {len(texts)} candidates")
    with ix.timed(f"building a {params.kind} index") as t_build:
        index, used = ix.build(vectors, params, use_gpu=use_gpu)
    if queries is not None:  # real held-out contexts
        rows = ix.sample_rows(len(queries), recall_sample)
        queries, recall_queries = queries[rows], "held-out contexts"
    else:  # candidate texts asked as one-turn contexts
        rows = ix.sample_rows(len(texts), recall_sample)
        sampled = [[texts[i]] for i in rows]
        queries = encode_in_batches(
            bundle.encode_contexts, sampled, batch_size, "encode recall queries", bundle.lengths("context", sampled)
        )
        recall_queries = "candidate texts as one-turn contexts"
    if params.kind == "auto" and used.kind == "hnsw":  # auto raises efSearch until recall@20 is met
        used, recall = ix.tune_ef_search(index, used, vectors, queries)
    else:
        recall = ix.recall_at_k(index, vectors, queries)
    log.info("recall@%d of the %s index on %d queries: %.4f", ix.RECALL_K, used.kind, len(rows), recall)
    manifest = {
        **(extra or {}),
        "params": used.to_json(),
        "kindAsked": params.kind,
        "encoder": {"runtime": getattr(bundle, "runtime", "tensorflow"), "precision": str(getattr(bundle, "precision", ""))},
        "metric": "inner_product",
        "normalized": True,
        "count": len(texts),
        "dim": int(vectors.shape[1]),
        "recallAt20": round(recall, 6),
        "recallSample": int(len(rows)),
        "recallQueries": recall_queries,
        "encodingsReused": reused,
        "encodeSeconds": round(t_encode.seconds, 3),
        "buildSeconds": round(t_build.seconds, 3),
        "totalSeconds": round(time.perf_counter() - started, 3),
        "gpu": bool(use_gpu),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    ix.publish(target, index, ids, texts, manifest)
    log.info("published %s at %s in %.1f s", ix.describe(manifest), target, manifest["totalSeconds"])
    return manifest
