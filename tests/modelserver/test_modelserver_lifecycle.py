"""Health through the server's life, and SIGTERM draining without losing accepted requests."""

from __future__ import annotations

import time

import grpc
import pytest

from rejoinder.modelserver.protos import dialog_service_pb2 as pb
from rejoinder.modelserver.protos import dialog_service_pb2_grpc as pb_grpc

pytestmark = pytest.mark.slow


def test_health_goes_not_serving_serving_not_serving_and_drain_loses_nothing(artifacts, start_server):
    # TensorFlow: its loading and warm-up take seconds, long enough for the 0.2 s health polling to
    # see NOT_SERVING first; ONNX Runtime loads this tiny bundle in a tenth of that
    server = start_server(["--bundle", str(artifacts.scorer), "--max-batch-size", "4", "--drain-delay", "1.5",
                           "--runtime", "tensorflow"])
    seen = server.wait_serving()
    assert seen[0] == "NOT_SERVING" and seen[-1] == "SERVING", seen  # loading and warming up first
    with grpc.insecure_channel(server.target) as channel:
        stub = pb_grpc.DialogServiceStub(channel)
        assert 0.0 <= stub.ScoreSession(pb.ScoreSessionRequest(turns=["hi", "hello"]), timeout=30).score <= 1.0
        with pytest.raises(grpc.RpcError) as info:  # a session scorer has no index
            stub.Retrieve(pb.RetrieveRequest(context=["hi"]), timeout=10)
        assert info.value.code() == grpc.StatusCode.UNIMPLEMENTED

        sessions = [[f"turn {i}", "a reply", f"another turn {j}"] for i in range(8) for j in range(8)]
        accepted = [stub.ScoreSession.future(pb.ScoreSessionRequest(turns=s), timeout=60) for s in sessions]
        time.sleep(0.05)  # let them reach the server
        server.proc.send_signal(15)  # SIGTERM, as Kubernetes does
        status = None
        for _ in range(50):
            status = server.health()
            if status != "SERVING":
                break
            time.sleep(0.02)
        assert status == "NOT_SERVING"
        scores = [f.result().score for f in accepted]  # every accepted request is answered
        assert len(scores) == len(sessions)
    assert server.proc.wait(60) == 0
    assert "every accepted request was answered" in server.logs()


def test_a_retrieval_model_without_its_index_exits_with_the_reason(artifacts, start_server, tmp_path):
    server = start_server(["--bundle", str(artifacts.bundle), "--index", str(tmp_path / "missing")])
    assert server.proc.wait(120) == 1
    assert "cannot serve" in server.logs() and "build-index" in server.logs()
