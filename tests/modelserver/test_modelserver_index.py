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


class _VectorBundle:
    """build_and_publish's view of a bundle: replies and contexts encoded to fixed vectors."""

    runtime, precision = "onnxruntime", "int8"

    def __init__(self, vectors: np.ndarray, texts: list[str]):
        self.rows = {t: i for i, t in enumerate(texts)}
        self.vectors = vectors
        noise = np.random.default_rng(5).normal(scale=0.05, size=vectors.shape).astype(np.float32)
        self.queries = vectors + noise  # the context tower: near, not equal to, the reply tower

    def lengths(self, kind, items):
        return np.ones(len(items), dtype=np.int64)

    def encode_responses(self, texts):
        return self.vectors[[self.rows[t] for t in texts]]

    def encode_contexts(self, contexts):
        return self.queries[[self.rows[c[-1]] for c in contexts]]


@pytest.mark.parametrize("count, want", [(300, "flat"), (3000, "hnsw")])
def test_auto_is_exact_below_the_threshold_and_hnsw_at_or_above_it_with_its_recall_recorded(tmp_path, count, want):
    from rejoinder.modelserver.build_index import build_and_publish

    vectors = clustered(count, clusters=60)
    texts = [f"reply {i}" for i in range(count)]
    params = ix.IndexParams(kind="auto", approximate_from=1000, ef_search=8, min_recall=0.99)
    manifest = build_and_publish(_VectorBundle(vectors, texts), [f"r{i}" for i in range(count)], texts, params,
                                 tmp_path / "index", recall_sample=200)
    written = json.loads((tmp_path / "index" / "index.json").read_text())
    assert written["params"]["kind"] == want and written["kindAsked"] == "auto"
    assert written["encoder"] == {"runtime": "onnxruntime", "precision": "int8"}
    assert written["recallSample"] == 200 and written["recallAt20"] == manifest["recallAt20"]
    if want == "flat":
        assert written["recallAt20"] == 1.0
    else:  # efSearch raised from 8 until recall@20 reached 0.99 (or the last step)
        assert written["params"]["efSearch"] in (8, 16, 32, 64)
        assert written["recallAt20"] >= 0.99 or written["params"]["efSearch"] == 64
        assert ix.LoadedIndex.load(tmp_path / "index").params.ef_search == written["params"]["efSearch"]


def test_tune_ef_search_stops_at_the_first_efsearch_that_reaches_the_recall():
    vectors, queries = clustered(4000, clusters=80), clustered(100, clusters=80, seed=3)
    index, params = ix.build(vectors, ix.IndexParams(kind="hnsw", hnsw_m=8, ef_construction=16, ef_search=4))
    used, recall = ix.tune_ef_search(index, replace_min_recall(params, 0.0), vectors, queries)
    assert used.ef_search == 4  # any recall is enough: the first step
    used, recall = ix.tune_ef_search(index, replace_min_recall(params, 0.999), vectors, queries)
    below = ix.recall_at_k(index, vectors, queries) if used.ef_search == 4 else None
    assert recall >= 0.999 or used.ef_search == 4 * 2 ** (ix.EF_SEARCH_STEPS - 1)
    assert below is None or below >= 0.999


def replace_min_recall(params, value):
    from dataclasses import replace

    return replace(params, min_recall=value)


def test_the_api_default_is_auto_and_the_threshold_is_the_index_modules():
    from rejoinder.api.spec import IndexSpec

    spec = IndexSpec()
    assert spec.kind.value == "auto"
    params = ix.IndexParams.from_spec(spec)
    assert (params.approximate_from, params.min_recall) == (ix.APPROXIMATE_FROM, ix.MIN_RECALL)
    assert ix.effective_params(params, ix.APPROXIMATE_FROM - 1).kind == "flat"
    assert ix.effective_params(params, ix.APPROXIMATE_FROM).kind == "hnsw"
