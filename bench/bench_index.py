"""ANN recall@20 and query time of flat / HNSW / IVF on 100k embedding-like vectors.

    python bench/bench_index.py [--count 100000] [--dim 256] [--write-docs]

Isotropic random vectors understate ANN recall badly (HNSW recall@20 0.2–0.4 on them, see
/work/shared/notes/text-data-models.md): sentence embeddings live near a low-dimensional,
clustered manifold. The vectors here come from such a model: topic centres in a 64-d subspace,
sub-topic offsets, per-vector noise, mapped to `dim` dimensions and L2-normalised; cluster sizes
follow a Zipf law as topics in real dialog do. The noise is set so that a random pair has cosine
~0.02 and a query's 20th neighbour ~0.6, the range of sentence-embedding models on diverse text
(both are measured and printed). Queries are fresh draws from the same model (never database
vectors). Recall is against exact inner-product search (IndexFlatIP).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchdocs import DOCS, replace_section  # noqa: E402


def embedding_like(count: int, dim: int, seed: int, topics: int = 400, subspace: int = 64, noise: float = 1.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    basis = np.linalg.qr(rng.normal(size=(dim, subspace)))[0]  # dim x subspace, orthonormal
    centres = rng.normal(size=(topics, subspace))
    sub = rng.normal(scale=0.5, size=(topics, 8, subspace))  # 8 sub-topics per topic
    weights = 1.0 / np.arange(1, topics + 1)
    topic = rng.choice(topics, size=count, p=weights / weights.sum())
    subtopic = rng.integers(0, 8, size=count)
    low = centres[topic] + sub[topic, subtopic] + rng.normal(scale=noise, size=(count, subspace))
    x = low @ basis.T + rng.normal(scale=0.02, size=(count, dim))  # a little off-manifold noise
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def query_times(index: Any, queries: np.ndarray, k: int = 20, singles: int = 200) -> tuple[float, float]:
    """(ms per query sent one at a time on 1 thread, ms per query in one batch of all queries on
    all threads). One thread for single queries: OpenMP barriers on a busy machine cost more than
    a lone query gains from a second thread."""
    import faiss

    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    start = time.perf_counter()
    for q in queries[:singles]:
        index.search(q[None, :], k)
    single = (time.perf_counter() - start) / singles * 1000
    faiss.omp_set_num_threads(threads)
    start = time.perf_counter()
    index.search(queries, k)
    batched = (time.perf_counter() - start) / len(queries) * 1000
    return single, batched


def run(count: int, dim: int, n_queries: int, seed: int) -> tuple[list[dict[str, Any]], dict[str, float]]:
    import faiss

    sys.path.insert(0, str(ROOT))
    from rejoinder.modelserver import index as ix

    drawn = embedding_like(count + n_queries, dim, seed)  # one model; the queries are held-out draws
    vectors, queries = drawn[:count], drawn[count:]
    flat = faiss.IndexFlatIP(dim)
    flat.add(vectors)
    top, truth = flat.search(queries, 20)
    sample = vectors[np.random.default_rng(seed).choice(count, 2000, replace=False)]
    stats = {"random_pair_cosine": float(np.mean(sample[:1000] @ sample[1000:].T)),
             "twentieth_neighbour_cosine": float(np.mean(top[:, -1]))}
    print(json.dumps(stats), flush=True)

    configs = [
        ix.IndexParams("flat"),
        ix.IndexParams("hnsw", hnsw_m=32, ef_construction=100, ef_search=64),
        ix.IndexParams("hnsw", hnsw_m=32, ef_construction=100, ef_search=128),
        ix.IndexParams("hnsw", hnsw_m=32, ef_construction=100, ef_search=256),
        ix.IndexParams("ivf", nlist=1024, nprobe=16),
        ix.IndexParams("ivf", nlist=1024, nprobe=64),
        ix.IndexParams("ivf", nlist=1024, nprobe=128),
    ]
    rows = []
    built: dict[tuple, Any] = {}
    for params in configs:
        key = (params.kind, params.hnsw_m, params.ef_construction, params.nlist)
        if key not in built:  # efSearch / nprobe are search-time settings: build once
            start = time.perf_counter()
            index, _ = ix.build(vectors, params)
            built[key] = (index, time.perf_counter() - start)
        index, build_s = built[key]
        ix.apply_search_params(index, params)
        _, found = index.search(queries, 20)
        recall = float(np.mean([len(set(a) & set(b)) / 20 for a, b in zip(found.tolist(), truth.tolist())]))
        single_ms, batched_ms = query_times(index, queries)
        row = {"params": params.to_json(), "build_s": round(build_s, 2), "recall_at_20": round(recall, 4),
               "single_ms": round(single_ms, 3), "batched_ms": round(batched_ms, 4)}
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows, stats


def label(params: dict[str, Any]) -> str:
    kind = params["kind"]
    if kind == "hnsw":
        return f"HNSW{params['m']} efC {params['efConstruction']}, efSearch {params['efSearch']}"
    if kind == "ivf":
        return f"IVF{params['nlist']}, nprobe {params['nprobe']}"
    return "Flat (exact)"


def markdown(rows: list[dict[str, Any]], stats: dict[str, float], count: int, dim: int, n_queries: int) -> str:
    import faiss

    threads = faiss.omp_get_max_threads()
    lines = [
        f"`python bench/bench_index.py` — {count:,} × {dim} embedding-like vectors (Zipf-sized topic clusters "
        f"on a 64-d manifold, L2-normalised; not isotropic noise: mean cosine of a random pair "
        f"{stats['random_pair_cosine']:.3f}, of a query's 20th neighbour {stats['twentieth_neighbour_cosine']:.3f}), "
        f"{n_queries:,} held-out queries, inner product. "
        f"faiss {faiss.__version__}, {platform.machine()}, {os.cpu_count()} cores shared with other work "
        f"(load average {os.getloadavg()[0]:.1f} at the end). Recall@20 is against exact search; *one at a time* "
        f"is the mean latency of single-query searches on 1 thread, *batched* the time per query when all "
        f"{n_queries:,} are searched in one call on {threads} threads.",
        "",
        "| index | build s | recall@20 | ms/query one at a time | ms/query batched |",
        "|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {label(r['params'])} | {r['build_s']:.1f} | {r['recall_at_20']:.3f} | {r['single_ms']:.3f} | {r['batched_ms']:.4f} |"
        )
    return "\n".join(lines) + "\n"



def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--write-docs", action="store_true", help='replace "## Index" in docs/benchmarks.md')
    args = parser.parse_args()
    rows, stats = run(args.count, args.dim, args.queries, args.seed)
    text = markdown(rows, stats, args.count, args.dim, args.queries)
    print(text)
    if args.write_docs:
        replace_section(DOCS, "## Index", text)
        print(f"updated {DOCS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
