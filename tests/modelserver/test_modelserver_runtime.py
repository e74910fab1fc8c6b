"""The runtime behind the batchifiers: fixed shapes (no compilation after warm-up), batch == single."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.slow


def test_after_warm_up_no_batch_size_compiles_again_and_batched_equals_single(artifacts):
    from rejoinder.modelserver.index import LoadedIndex
    from rejoinder.modelserver.loading import load_model_bundle
    from rejoinder.modelserver.runtime import Runtime
    from rejoinder.modelserver.shapes import batch_shapes

    shapes = batch_shapes(8)
    bundle = load_model_bundle(artifacts.bundle, "float32", xla=True, batch_sizes=shapes)
    reranker = load_model_bundle(artifacts.reranker, "float32", xla=True, batch_sizes=shapes)
    runtime = Runtime(bundle, "retrieval", index=LoadedIndex.load(artifacts.index), reranker=reranker)
    runtime.warm_up()
    functions = [*bundle._fns.values(), *reranker._fns.values()]
    traced = [f.experimental_get_tracing_count() for f in functions]

    contexts = [[f"context number {i}"] for i in range(11)]
    batched = runtime.retrieve_batch([(c, 5) for c in contexts])  # 11 rows: 8 + 3 padded to 4
    for n in (1, 2, 3, 5, 7):
        runtime.retrieve_batch([(c, 5) for c in contexts[:n]])
    scores = runtime.rerank_batch([(["hi"], [f"response {i}" for i in range(13)]), (["hello"], ["one"])])
    assert [f.experimental_get_tracing_count() for f in functions] == traced  # nothing compiled while serving

    for context, hits in zip(contexts, batched):
        single = runtime.retrieve_batch([(context, 5)])[0]
        assert np.allclose([h.score for h in hits], [h.score for h in single], atol=1e-5)
    assert [len(s) for s in scores] == [13, 1]
    alone = runtime.rerank_batch([(["hello"], ["one"])])[0]
    assert np.allclose(scores[1], alone, atol=1e-5)
