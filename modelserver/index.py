"""FAISS index over candidate responses: build, measure recall@20, publish, load, search.

Cosine similarity is the inner product of L2-normalised vectors, so every index uses the
inner-product metric on normalised vectors: exact `IndexFlatIP` (default; exact and ~5 ms per
query at 100k), HNSW (`IndexHNSWFlat`, inner product), or IVF (`IndexIVFFlat` over a flat
inner-product quantizer). Approximate indexes record recall@20 against exact search.

On-disk layout of versions/<v>/index/<i>/ (published in one rename; index.json last):
    index.faiss   the FAISS index (CPU form; moved to a GPU at load time when asked)
    ids.npy       candidate ids (unicode array), row i of the index is ids[i]
    texts.jsonl   {"id", "text"} per line, in index order
    index.json    what was built and how well it recalls (the completion file)
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

from rejoinder import atomic
from rejoinder.api.spec import IndexSpec

log = logging.getLogger(__name__)

FORMAT = "rejoinder.index/v1"
INDEX_FILE = "index.faiss"
IDS_FILE = "ids.npy"
TEXTS_FILE = "texts.jsonl"
MANIFEST_FILE = "index.json"
RECALL_K = 20
# kind auto: the API's defaults (spec.index; docs/benchmarks.md "Index" measures the crossover)
APPROXIMATE_FROM: int = IndexSpec.model_fields["approximate_from"].default
MIN_RECALL: float = IndexSpec.model_fields["min_recall"].default
EF_SEARCH_STEPS = 4  # auto tries efSearch, 2×, 4×, 8× until recall@20 reaches min_recall


@dataclass(frozen=True)
class IndexParams:
    """The FAISS settings actually used (IVF's nlist is capped by the number of vectors)."""

    kind: str = "auto"  # auto | flat | hnsw | ivf
    hnsw_m: int = 32
    ef_construction: int = 100
    ef_search: int = 128
    nlist: int = 1024
    nprobe: int = 64
    approximate_from: int = APPROXIMATE_FROM  # auto: HNSW from this many candidates, flat below
    min_recall: float = MIN_RECALL  # auto: the recall@20 HNSW's efSearch is raised to reach

    @classmethod
    def from_spec(cls, index_spec: Any) -> "IndexParams":
        """From a rejoinder.api.spec.IndexSpec."""
        return cls(
            kind=index_spec.kind.value,
            hnsw_m=index_spec.hnsw.m,
            ef_construction=index_spec.hnsw.ef_construction,
            ef_search=index_spec.hnsw.ef_search,
            nlist=index_spec.ivf.nlist,
            nprobe=index_spec.ivf.nprobe,
            approximate_from=index_spec.approximate_from,
            min_recall=index_spec.min_recall,
        )

    def to_json(self) -> dict[str, Any]:
        if self.kind == "auto":
            raise ValueError("resolve kind auto (effective_params) before recording it")
        if self.kind == "hnsw":
            return {"kind": "hnsw", "m": self.hnsw_m, "efConstruction": self.ef_construction, "efSearch": self.ef_search}
        if self.kind == "ivf":
            return {"kind": "ivf", "nlist": self.nlist, "nprobe": self.nprobe}
        return {"kind": "flat"}

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> "IndexParams":
        kind = obj.get("kind", "flat")
        if kind == "hnsw":
            return cls(kind, hnsw_m=obj["m"], ef_construction=obj["efConstruction"], ef_search=obj["efSearch"])
        if kind == "ivf":
            return cls(kind, nlist=obj["nlist"], nprobe=obj["nprobe"])
        return cls("flat")


def normalize(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm, float32, C-contiguous (what FAISS wants). Zero rows stay zero."""
    x = np.ascontiguousarray(np.asarray(vectors, dtype=np.float32))
    if x.ndim != 2:
        raise ValueError(f"expected a 2-D matrix of vectors, got shape {x.shape}")
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.ascontiguousarray(x / np.maximum(norms, 1e-12), dtype=np.float32)


def gpu_available() -> bool:
    import faiss

    return hasattr(faiss, "StandardGpuResources") and faiss.get_num_gpus() > 0


def effective_params(params: IndexParams, count: int) -> IndexParams:
    """auto → flat below `approximate_from` candidates, else HNSW; IVF needs ~39 training points
    per list: cap nlist (and nprobe) for small candidate sets."""
    if params.kind == "auto":
        kind = "hnsw" if count >= params.approximate_from else "flat"
        log.info("index kind auto: %d candidates %s %d: %s", count, ">=" if kind == "hnsw" else "<", params.approximate_from, kind)
        return replace(params, kind=kind)
    if params.kind != "ivf":
        return params
    nlist = max(1, min(params.nlist, count // 39))
    nprobe = min(params.nprobe, nlist)
    if (nlist, nprobe) != (params.nlist, params.nprobe):
        log.warning("IVF: %d vectors are too few for nlist=%d; using nlist=%d nprobe=%d", count, params.nlist, nlist, nprobe)
    return IndexParams("ivf", nlist=nlist, nprobe=nprobe)


# FAISS 1.15 only computes exact distances with BLAS from 128,000 queries at once
# (`distance_compute_blas_threshold`); below that it scans the vectors once per query. A server's
# batch is 1–128 queries: measured here at 100k × 384, a batch of 32 took 300 ms scanning and
# 65 ms through BLAS, which made the search, not the encoder, the bottleneck of `Retrieve`.
BLAS_MIN_QUERIES = 20


def use_blas_for_batches() -> None:
    """Process-wide: batches of BLAS_MIN_QUERIES or more queries use one matrix product."""
    import faiss

    faiss.cvar.distance_compute_blas_threshold = BLAS_MIN_QUERIES


def search_threads(allowed_cpus: int, configured: Optional[int] = None) -> int:
    """FAISS's OpenMP threads for a server's searches: `configured`, else one fewer than the CPUs
    the server may use, at least one. An exact search joins its OpenMP team at a barrier after
    every block of the index, so a team thread that loses its core (to the server's own event
    loop, a sidecar, a neighbour) stalls every barrier: measured (bench/bench_search_threads.py)
    at 100k × 384 with one busy process beside it, 2 threads took 8–11× longer than 1 for a batch
    of 13–32 queries; idle, 2 threads were 1.6–1.9× faster than 1. So the event loop keeps a core."""
    if configured is not None:
        if configured < 1:
            raise ValueError(f"search threads must be at least 1, got {configured}")
        return configured
    return max(1, allowed_cpus - 1)


def set_search_threads(threads: int) -> None:
    """Process-wide: the OpenMP team FAISS searches with."""
    import faiss

    faiss.omp_set_num_threads(threads)


def apply_search_params(index: Any, params: IndexParams) -> None:
    import faiss

    if params.kind == "hnsw":
        faiss.downcast_index(index).hnsw.efSearch = params.ef_search
    elif params.kind == "ivf":
        faiss.extract_index_ivf(index).nprobe = params.nprobe


def build(vectors: np.ndarray, params: IndexParams, use_gpu: bool = False) -> tuple[Any, IndexParams]:
    """A FAISS index over normalised `vectors` (returned in CPU form, ready to write)."""
    import faiss

    x = normalize(vectors)
    count, dim = x.shape
    if count == 0:
        raise ValueError("no candidate vectors to index")
    params = effective_params(params, count)
    if params.kind == "flat":
        index = faiss.IndexFlatIP(dim)
    elif params.kind == "hnsw":
        index = faiss.IndexHNSWFlat(dim, params.hnsw_m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = params.ef_construction
    elif params.kind == "ivf":
        quantizer = faiss.IndexFlatIP(dim)
        index = faiss.IndexIVFFlat(quantizer, dim, params.nlist, faiss.METRIC_INNER_PRODUCT)
    else:
        raise ValueError(f"unknown index kind {params.kind!r}: expected auto, flat, hnsw or ivf")

    # FAISS GPU has flat and IVF indexes (not HNSW); build there, store the CPU form.
    if use_gpu and params.kind != "hnsw":
        res = faiss.StandardGpuResources()
        gpu_index = faiss.index_cpu_to_gpu(res, 0, index)
        if params.kind == "ivf":
            gpu_index.train(x)
        gpu_index.add(x)
        index = faiss.index_gpu_to_cpu(gpu_index)
    else:
        if use_gpu:
            log.info("FAISS has no GPU HNSW: building HNSW on the CPU")
        if params.kind == "ivf":
            index.train(x)
        index.add(x)
    apply_search_params(index, params)
    return index, params


def exact_top_k(vectors: np.ndarray, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Brute-force cosine top-k (scores, rows), the ground truth for recall."""
    import faiss

    x, q = normalize(vectors), normalize(queries)
    flat = faiss.IndexFlatIP(x.shape[1])
    flat.add(x)
    return flat.search(q, min(k, x.shape[0]))


def recall_at_k(index: Any, vectors: np.ndarray, queries: np.ndarray, k: int = RECALL_K) -> float:
    """Mean fraction of the exact top-k that the index also returns in its top-k."""
    k = min(k, index.ntotal)
    _, exact = exact_top_k(vectors, queries, k)
    _, approx = index.search(normalize(queries), k)
    hits = sum(len(set(e.tolist()) & set(a.tolist()) - {-1}) for e, a in zip(exact, approx))
    return hits / (k * len(queries))


def tune_ef_search(index: Any, params: IndexParams, vectors: np.ndarray, queries: np.ndarray) -> tuple[IndexParams, float]:
    """HNSW: the smallest of efSearch, 2×, 4×, … (EF_SEARCH_STEPS) whose recall@20 on `queries`
    reaches `min_recall` (else the largest tried); returns the params used and their recall."""
    recall = 0.0
    for step in range(EF_SEARCH_STEPS):
        tried = replace(params, ef_search=params.ef_search * 2 ** step)
        apply_search_params(index, tried)
        recall = recall_at_k(index, vectors, queries)
        log.info("HNSW efSearch %d: recall@%d %.4f", tried.ef_search, RECALL_K, recall)
        if recall >= params.min_recall:
            break
    return tried, recall


def publish(
    target: Path,
    index: Any,
    ids: Sequence[str],
    texts: Sequence[str],
    manifest: dict[str, Any],
) -> None:
    """Write the index directory beside `target` and rename it into place; index.json last."""
    import faiss

    if not (index.ntotal == len(ids) == len(texts)):
        raise ValueError(f"index has {index.ntotal} vectors but {len(ids)} ids and {len(texts)} texts")
    with atomic.publish_dir(target) as tmp:
        faiss.write_index(index, str(tmp / INDEX_FILE))
        np.save(tmp / IDS_FILE, np.asarray(list(ids), dtype=str), allow_pickle=False)
        with open(tmp / TEXTS_FILE, "w", encoding="utf-8") as f:
            for id_, text in zip(ids, texts):
                f.write(json.dumps({"id": id_, "text": text}, ensure_ascii=False) + "\n")
        atomic.write_json(tmp / MANIFEST_FILE, {"format": FORMAT, **manifest})


class IndexNotReady(FileNotFoundError):
    """The index directory has no index.json: build-index has not finished."""


@dataclass
class LoadedIndex:
    """A published index in memory; `search` takes un-normalised query vectors."""

    index: Any
    ids: list[str]
    texts: list[str]
    manifest: dict[str, Any]
    params: IndexParams
    path: Path

    @property
    def size(self) -> int:
        return int(self.index.ntotal)

    @property
    def dim(self) -> int:
        return int(self.index.d)

    @classmethod
    def load(cls, path: Path, use_gpu: bool = False) -> "LoadedIndex":
        import faiss

        path = Path(path)
        manifest_file = path / MANIFEST_FILE
        if not manifest_file.is_file():
            raise IndexNotReady(f"{path}: no {MANIFEST_FILE}; run `rejoinder build-index` first")
        manifest = json.loads(manifest_file.read_text(encoding="utf-8"))
        if manifest.get("format") != FORMAT:
            raise ValueError(f"{manifest_file}: format {manifest.get('format')!r}, expected {FORMAT!r}")
        index = faiss.read_index(str(path / INDEX_FILE))
        use_blas_for_batches()
        params = IndexParams.from_json(manifest.get("params", {}))
        apply_search_params(index, params)
        if use_gpu and params.kind != "hnsw" and gpu_available():
            index = faiss.index_cpu_to_all_gpus(index)
        ids = [str(i) for i in np.load(path / IDS_FILE, allow_pickle=False).tolist()]
        with open(path / TEXTS_FILE, encoding="utf-8") as f:
            texts = [json.loads(line)["text"] for line in f]
        if not (index.ntotal == len(ids) == len(texts)):
            raise ValueError(f"{path}: index has {index.ntotal} vectors, {len(ids)} ids, {len(texts)} texts")
        return cls(index, ids, texts, manifest, params, path)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores, rows) of the top-k for each query row; k is capped by the index size."""
        return self.index.search(normalize(queries), min(k, self.size))


def timed(label: str):
    """`with timed("encode") as t: ...; t.seconds` — for the numbers recorded in index.json."""

    class _Timer:
        seconds = 0.0

        def __enter__(self):
            self._start = time.perf_counter()
            return self

        def __exit__(self, *exc):
            self.seconds = time.perf_counter() - self._start
            log.info("%s took %.1f s", label, self.seconds)
            return False

    return _Timer()


def sample_rows(count: int, sample: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(count, size=min(sample, count), replace=False))


def describe(manifest: dict[str, Any]) -> str:
    recall: Optional[float] = manifest.get("recallAt20")
    return (
        f"{manifest.get('params', {}).get('kind', '?')} index of {manifest.get('count')} x {manifest.get('dim')}"
        + (f", recall@20 {recall:.3f}" if recall is not None else "")
    )
