"""The runtime behind the batchifiers: fixed shapes (no compilation after warm-up), batch == single."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.slow


def test_after_warm_up_no_batch_size_compiles_again_and_batched_equals_single(artifacts):
    from rejoinder.modelserver.index import LoadedIndex
    from rejoinder.modelserver.loading import load_model_bundle
    from rejoinder.modelserver.runtime import ServingRuntime
    from rejoinder.models.shapes import batch_sizes_up_to as batch_shapes

    shapes = batch_shapes(8)
    bundle = load_model_bundle(artifacts.bundle, "float32", xla=True, batch_sizes=shapes)
    reranker = load_model_bundle(artifacts.reranker, "float32", xla=True, batch_sizes=shapes)
    runtime = ServingRuntime(bundle, "retrieval", index=LoadedIndex.load(artifacts.index), reranker=reranker)
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


class _NoDeadline:
    """What the handlers ask of a gRPC context here: the time left (no deadline)."""

    def time_remaining(self):
        return None


def test_no_shape_is_traced_after_warm_up_under_a_mixed_length_load(artifacts):
    """Concurrent Retrieve and Rerank requests of random lengths through the service's batchifiers
    (sequence buckets + token budget): every shape they run at was compiled at warm-up."""
    import asyncio

    from rejoinder.modelserver import validation
    from rejoinder.modelserver.index import LoadedIndex
    from rejoinder.modelserver.loading import load_model_bundle
    from rejoinder.modelserver.metrics import ServerMetrics
    from rejoinder.modelserver.protos import dialog_service_pb2 as pb
    from rejoinder.modelserver.runtime import ServingRuntime
    from rejoinder.modelserver.service import BatchingConfig, DialogService, ServedIdentity
    from rejoinder.models.shapes import batch_sizes_up_to as batch_shapes

    shapes, buckets = batch_shapes(8), (8, 16)
    bundle = load_model_bundle(artifacts.bundle, "float32", xla=True, batch_sizes=shapes, sequence_buckets=buckets)
    reranker = load_model_bundle(artifacts.reranker, "float32", xla=True, batch_sizes=shapes, sequence_buckets=buckets)
    runtime = ServingRuntime(bundle, "retrieval", index=LoadedIndex.load(artifacts.index), reranker=reranker)
    runtime.warm_up()
    # retrieval: contexts and responses, 4 batch sizes × (8, 16, 32); reranking: pairs (8, 16, 32)
    assert runtime.compiled_shapes == 3 * 4 * 3
    traced = bundle.tracing_count() + reranker.tracing_count()
    assert traced == runtime.compiled_shapes

    metrics = ServerMetrics()
    service = DialogService(runtime, ServedIdentity(task="retrieval"), validation.Limits(),
                            BatchingConfig(max_batch_size=8, max_delay_s=0.002, max_batch_tokens=96), metrics)
    service.ready = True
    rng = np.random.default_rng(0)
    words = "so what do you think about all the things we talked about yesterday evening at dinner".split()

    def text() -> str:
        return " ".join(rng.choice(words, size=int(rng.integers(1, 40))))

    async def load():
        calls = []
        for _ in range(60):
            if rng.random() < 0.7:
                calls.append(service.retrieve(pb.RetrieveRequest(context=[text()], top_k=5), _NoDeadline()))
            else:
                responses = [text() for _ in range(int(rng.integers(1, 12)))]
                calls.append(service.rerank(pb.RerankRequest(context=[text()], responses=responses), _NoDeadline()))
        replies = await asyncio.gather(*calls)
        await service.close()
        return replies

    replies = asyncio.run(load())
    assert len(replies) == 60
    assert bundle.tracing_count() + reranker.tracing_count() == traced  # nothing compiled while serving

    def sample(name: str, **labels: str) -> float:
        return metrics.registry.get_sample_value(name, {"batcher": "retrieve", **labels})

    rows = sample("rejoinder_batch_size_sum")
    real, padded = sample("rejoinder_batch_tokens_total", kind="real"), sample("rejoinder_batch_tokens_total", kind="padded")
    assert 0 < real <= padded < rows * 32  # padded to buckets, less than every row at the full 32


def test_a_served_answer_is_never_one_of_the_contexts_own_turns(artifacts):
    """The no-parroting rule: a context whose turn is a candidate (in other case and spacing)
    is, without the rule, answered with that very candidate (one shared encoder embeds the same
    text alike); with it, never, and still k answers come back."""
    from rejoinder.modelserver.index import LoadedIndex
    from rejoinder.modelserver.loading import load_model_bundle
    from rejoinder.modelserver.runtime import ServingRuntime

    index = LoadedIndex.load(artifacts.index)
    runtime = ServingRuntime(load_model_bundle(artifacts.bundle, "float32"), "retrieval", index=index)
    k = 5
    for row in (0, 7, 42):
        turns = ["  " + index.texts[row].upper() + " "]
        _, raw = index.search(runtime.bundle.encode_contexts([turns]), k)
        assert index.texts[raw[0][0]].casefold() == index.texts[row].casefold(), "the echo would win without the rule"
        answered = runtime.retrieve_batch([(turns, k)])[0]
        assert len(answered) == k
        assert all(index.texts[h.row].casefold() != index.texts[row].casefold() for h in answered)
