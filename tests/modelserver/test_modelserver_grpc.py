"""The real server over gRPC: top-k, batching, overload, bad input, reflection, metrics."""

from __future__ import annotations

import concurrent.futures
import re

import grpc
import numpy as np
import pytest

from rejoinder.modelserver.protos import dialog_service_pb2 as pb

pytestmark = pytest.mark.slow

CONTEXTS = [
    ["Let's go to an early movie"],
    ["Hi!", "What do you think about chess?"],
    ["Tell me something about the ocean."],
    ["I can't sleep again", "What's keeping you up?", "Work, mostly."],
    ["Do you like music?"],
    ["Have you ever tried yoga?"],
    ["How do you feel about robots?"],
    ["Why do people care about poetry?"],
    ["What should I cook tonight?"],
    ["It's raining all week here"],
    ["Tell me something about trains."],
    ["Do you like coffee?"],
]


def assert_same_ranking(ids, scores, exact_ids, exact_scores, tol=2e-4):
    """Same scores rank by rank; ids may differ only where scores tie within tol."""
    assert np.allclose(scores, exact_scores, atol=tol), (scores, exact_scores)
    for i, (a, b) in enumerate(zip(ids, exact_ids)):
        if a != b:
            tied = [j for j, s in enumerate(exact_scores) if abs(s - scores[i]) <= tol]
            assert a in [exact_ids[j] for j in tied], f"rank {i + 1}: {a} vs {b}"


def test_retrieve_returns_the_brute_force_top_k(artifacts, stub):
    from rejoinder.models.bundle import load_bundle

    bundle = load_bundle(artifacts.bundle)
    responses = bundle.encode_responses(artifacts.candidate_texts)
    for turns in CONTEXTS[:4]:
        reply = stub.Retrieve(pb.RetrieveRequest(context=turns, top_k=20), timeout=30)
        assert len(reply.candidates) == 20
        assert [c.rank for c in reply.candidates] == list(range(1, 21))
        query = bundle.encode_contexts([turns[-4:]])[0]
        cosine = responses @ query / np.linalg.norm(responses, axis=1) / np.linalg.norm(query)
        order = np.argsort(-cosine, kind="stable")[:20]
        assert_same_ranking(
            [c.id for c in reply.candidates], [c.score for c in reply.candidates],
            [artifacts.candidate_ids[i] for i in order], cosine[order],
        )
        for c in reply.candidates:
            assert artifacts.candidate_texts[artifacts.candidate_ids.index(c.id)] == c.text
    assert reply.model_version == bundle.version and reply.index_version.startswith("i-")


def test_concurrent_clients_get_the_sequential_answers(stub):
    sequential = [stub.Retrieve(pb.RetrieveRequest(context=t, top_k=10), timeout=30) for t in CONTEXTS]
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        concurrent_ = list(pool.map(lambda t: stub.Retrieve(pb.RetrieveRequest(context=t, top_k=10), timeout=30), CONTEXTS))
    for seq, conc in zip(sequential, concurrent_):
        assert_same_ranking(
            [c.id for c in conc.candidates], [c.score for c in conc.candidates],
            [c.id for c in seq.candidates], [c.score for c in seq.candidates], tol=1e-4,
        )


def test_respond_reranks_the_retrieved_candidates(stub):
    retrieved = stub.Retrieve(pb.RetrieveRequest(context=CONTEXTS[0], top_k=20), timeout=30)
    reply = stub.Respond(pb.RespondRequest(context=CONTEXTS[0], top_k=20), timeout=30)
    assert reply.reranked and reply.reranker_version
    assert sorted(c.id for c in reply.candidates) == sorted(c.id for c in retrieved.candidates)
    scores = [c.score for c in reply.candidates]
    assert scores == sorted(scores, reverse=True) and reply.best == reply.candidates[0]
    direct = stub.Rerank(pb.RerankRequest(context=CONTEXTS[0], responses=[c.text for c in reply.candidates]), timeout=30)
    assert np.allclose(direct.scores, scores, atol=1e-4)  # Rerank and Respond agree


def test_model_info_describes_what_is_served(stub, artifacts):
    info = stub.ModelInfo(pb.ModelInfoRequest(), timeout=10)
    assert info.task == "retrieval" and info.name == "chat" and info.namespace == "tests"
    assert set(info.methods) == {"Retrieve", "Respond", "Rerank", "ModelInfo", "Feedback"}
    assert info.index_size == len(artifacts.candidate_ids) and info.index_kind == "flat"
    assert list(info.batch_shapes) == [1, 2, 4, 8] and info.max_top_k == len(artifacts.candidate_ids)
    # runtime auto on a CPU: the bundle's ONNX export; these random bundles have no held-out
    # text to gate int8 on, so float32, and ModelInfo says why
    assert (info.runtime, info.precision) == ("onnxruntime", "float32") and not info.xla
    assert "no held-out text" in info.precision_reason


def test_overload_is_refused_at_once_without_hanging(stub):
    # 64 simultaneous Rerank calls of 50 pairs each, against 8 queue slots and batches of 8 rows.
    request = pb.RerankRequest(context=["overload"], responses=[f"response {i}" for i in range(50)])
    futures = [stub.Rerank.future(request, timeout=60) for _ in range(64)]
    codes = []
    for f in futures:
        try:
            f.result()
            codes.append(grpc.StatusCode.OK)
        except grpc.RpcError as error:
            codes.append(error.code())
            if error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED:
                assert "queue is full" in error.details()
    assert grpc.StatusCode.RESOURCE_EXHAUSTED in codes and grpc.StatusCode.OK in codes
    assert set(codes) <= {grpc.StatusCode.OK, grpc.StatusCode.RESOURCE_EXHAUSTED}
    # and the server still answers normally afterwards
    assert stub.Retrieve(pb.RetrieveRequest(context=["still there?"]), timeout=30).candidates


BAD = [
    ("Retrieve", pb.RetrieveRequest(context=[]), "context is empty"),
    ("Retrieve", pb.RetrieveRequest(context=["hi", "   "]), r"context\[1\] is empty"),
    ("Retrieve", pb.RetrieveRequest(context=["hi"], top_k=401), "top_k 401 is out of range"),
    ("Respond", pb.RespondRequest(context=["hi"], top_k=5000), "top_k 5000 is out of range"),
    ("Rerank", pb.RerankRequest(context=["hi"], responses=[]), "responses is empty"),
    ("Rerank", pb.RerankRequest(context=["hi"], responses=["a"] * 1001), "1001 candidates; at most 1000"),
    ("Rerank", pb.RerankRequest(context=[], responses=["a"]), "context is empty"),
]


@pytest.mark.parametrize("method, request_, message", BAD, ids=[m for _, _, m in BAD])
def test_bad_input_is_invalid_argument(stub, method, request_, message):
    with pytest.raises(grpc.RpcError) as info:
        getattr(stub, method)(request_, timeout=10)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert re.search(message, info.value.details())


def test_non_utf8_text_is_invalid_argument(server):
    # Python clients cannot even build such a request; send raw bytes: field 1 (context), 2 bytes.
    with grpc.insecure_channel(server.target) as channel:
        raw = channel.unary_unary("/rejoinder.serving.v1.DialogService/Retrieve")
        with pytest.raises(grpc.RpcError) as info:
            raw(b"\x0a\x02\xff\xfe", timeout=10)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "UTF-8" in info.value.details()


def test_over_long_text_is_truncated_not_rejected(stub):
    long_turn = "word " * 50_000
    assert len(stub.Retrieve(pb.RetrieveRequest(context=[long_turn], top_k=3), timeout=30).candidates) == 3
    assert len(stub.Rerank(pb.RerankRequest(context=[long_turn], responses=[long_turn]), timeout=30).scores) == 1


def test_a_method_the_model_cannot_answer_is_unimplemented(stub):
    with pytest.raises(grpc.RpcError) as info:
        stub.ScoreSession(pb.ScoreSessionRequest(turns=["hi"]), timeout=10)
    assert info.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert "session-scoring" in info.value.details()


def test_reflection_lists_the_services(server):
    from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

    with grpc.insecure_channel(server.target) as channel:
        services = set(ProtoReflectionDescriptorDatabase(channel).get_services())
    assert {"rejoinder.serving.v1.DialogService", "grpc.health.v1.Health"} <= services
    assert server.health("rejoinder.serving.v1.DialogService") == "SERVING"


def test_metrics_are_exposed(server, stub):
    stub.Retrieve(pb.RetrieveRequest(context=["metrics please"]), timeout=30)
    text = server.metrics()
    ok = re.search(r'rejoinder_requests_total\{code="OK",method="Retrieve"\} (\d+)', text)
    assert ok and int(ok.group(1)) >= 1
    for name in (
        "rejoinder_request_duration_seconds_bucket", "rejoinder_batch_size_bucket", "rejoinder_queue_wait_seconds_bucket",
        "rejoinder_queue_depth", "rejoinder_in_flight_requests", "rejoinder_model_info", "rejoinder_ready 1.0",
    ):
        assert name in text, name
    assert 'task="retrieval"' in text
