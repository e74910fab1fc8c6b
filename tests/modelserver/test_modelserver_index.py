"""FAISS index build, recall measurement, atomic publish and load."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rejoinder.modelserver import index as ix


def clustered(count: int, dim: int = 32, clusters: int = 20, seed: int = 0) -> np.ndarray:
    """Embedding-like vectors: a mixture of clusters (isotropic noise would understate ANN recall)."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(clusters, dim))
    assign = rng.integers(0, clusters, size=count)
    return (centers[assign] + 0.3 * rng.normal(size=(count, dim))).astype(np.float32)


def test_normalize_gives_unit_rows_and_keeps_zero_rows():
    x = ix.normalize(np.array([[3.0, 4.0], [0.0, 0.0]]))
    assert np.allclose(x[0], [0.6, 0.8])
    assert np.allclose(x[1], 0.0)
    with pytest.raises(ValueError):
        ix.normalize(np.zeros(3))


@pytest.mark.parametrize("kind", ["flat", "hnsw", "ivf"])
def test_index_kinds_find_the_exact_neighbours(kind):
    vectors = clustered(3000)
    queries = clustered(50, seed=1)
    index, params = ix.build(vectors, ix.IndexParams(kind=kind, nlist=64, nprobe=16))
    recall = ix.recall_at_k(index, vectors, queries)
    assert recall == 1.0 if kind == "flat" else recall > 0.8
    scores, rows = index.search(ix.normalize(queries), 5)
    assert np.all(scores[:, :-1] >= scores[:, 1:] - 1e-6)  # best first
    assert np.all(scores <= 1.0 + 1e-5)  # cosine


def test_ivf_caps_nlist_for_small_candidate_sets():
    index, params = ix.build(clustered(200), ix.IndexParams(kind="ivf", nlist=1024, nprobe=64))
    assert params.nlist == 200 // 39 and params.nprobe == params.nlist
    assert index.ntotal == 200


def test_publish_then_load_round_trips_and_search_matches_brute_force(tmp_path):
    vectors = clustered(500)
    ids = [f"r{i}" for i in range(500)]
    texts = [f"response number {i} ✓" for i in range(500)]
    index, params = ix.build(vectors, ix.IndexParams("hnsw", ef_search=64))
    target = tmp_path / "index" / "i-1"
    ix.publish(target, index, ids, texts, {"params": params.to_json(), "count": 500, "dim": 32})
    assert sorted(p.name for p in target.iterdir()) == sorted(
        [ix.INDEX_FILE, ix.IDS_FILE, ix.TEXTS_FILE, ix.MANIFEST_FILE]
    )
    assert not [p for p in target.parent.iterdir() if p.name.startswith(".")]  # no temp left

    loaded = ix.LoadedIndex.load(target)
    assert loaded.ids == ids and loaded.texts == texts and loaded.params == params
    assert loaded.index.hnsw.efSearch == 64
    queries = clustered(10, seed=3) * 7.0  # un-normalised on purpose
    scores, rows = loaded.search(queries, 20)
    exact_scores, exact_rows = ix.exact_top_k(vectors, queries, 20)
    assert np.allclose(scores[:, 0], exact_scores[:, 0], atol=1e-5)  # the best one is always found
    assert ix.recall_at_k(loaded.index, vectors, queries) >= 0.95


def test_loading_an_unfinished_index_says_what_to_do(tmp_path):
    (tmp_path / "i-1").mkdir()
    with pytest.raises(ix.IndexNotReady, match="build-index"):
        ix.LoadedIndex.load(tmp_path / "i-1")


def test_publish_refuses_mismatched_ids_and_keeps_the_old_index(tmp_path):
    vectors = clustered(100)
    index, params = ix.build(vectors, ix.IndexParams())
    target = tmp_path / "i-1"
    ix.publish(target, index, [str(i) for i in range(100)], ["t"] * 100, {"params": params.to_json()})
    before = json.loads((target / ix.MANIFEST_FILE).read_text())
    with pytest.raises(ValueError):
        ix.publish(target, index, ["only-one"], ["t"], {"params": params.to_json()})
    assert json.loads((target / ix.MANIFEST_FILE).read_text()) == before


def test_a_loaded_flat_index_searches_batches_through_blas_with_exact_results(tmp_path):
    import faiss

    vectors = clustered(2000)
    ids = [f"r{i}" for i in range(2000)]
    index, params = ix.build(vectors, ix.IndexParams("flat"))
    ix.publish(tmp_path / "i-1", index, ids, ids, {"params": params.to_json(), "count": 2000, "dim": 32})
    faiss.cvar.distance_compute_blas_threshold = 128_000  # FAISS 1.15's default: never BLAS for a server's batch
    loaded = ix.LoadedIndex.load(tmp_path / "i-1")
    assert faiss.cvar.distance_compute_blas_threshold == ix.BLAS_MIN_QUERIES
    queries = clustered(ix.BLAS_MIN_QUERIES + 12, seed=4)  # a batch on the BLAS path
    scores, rows = loaded.search(queries, 20)
    exact_scores, _ = ix.exact_top_k(vectors, queries, 20)
    np.testing.assert_allclose(scores, exact_scores, atol=1e-5)


def test_search_threads_leave_the_event_loop_a_core_unless_configured():
    assert [ix.search_threads(cpus) for cpus in (1, 2, 4, 16)] == [1, 1, 3, 15]
    assert ix.search_threads(2, configured=2) == 2
    with pytest.raises(ValueError, match="at least 1"):
        ix.search_threads(2, configured=0)
