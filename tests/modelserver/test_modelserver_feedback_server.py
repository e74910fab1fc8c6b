"""Feedback against `rejoinder serve` subprocesses: ids from real answers, the counter on /metrics,
the CLI, long histories, the request size bound, and the crash test (SIGKILL mid-stream loses
nothing that was answered OK)."""

from __future__ import annotations

import re
import signal
import threading
import time

import grpc
import pytest

from rejoinder.cli import main as cli
from rejoinder.feedback.segments import reactions_dir, read_reactions
from rejoinder.modelserver.protos import dialog_service_pb2 as pb
from rejoinder.modelserver.protos import dialog_service_pb2_grpc as pb_grpc

pytestmark = pytest.mark.slow


def counted(server, version: str, reaction: str) -> float:
    found = re.search(rf'rejoinder_feedback_total\{{reaction="{reaction}",version="{re.escape(version)}"\}} (\S+)',
                      server.metrics())
    return float(found.group(1)) if found else 0.0


def test_every_answer_has_a_unique_id_naming_the_server(stub):
    info = stub.ModelInfo(pb.ModelInfoRequest(), timeout=10)
    assert "Feedback" in info.methods and info.served_version == f"{info.model_version}+{info.reranker_version}"
    respond = stub.Respond(pb.RespondRequest(context=["Do you like music?"], top_k=5), timeout=30)
    retrieve = stub.Retrieve(pb.RetrieveRequest(context=["Do you like music?"], top_k=5), timeout=30)
    ids = [c.response_id for c in [*respond.candidates, *retrieve.candidates]]
    assert len(set(ids)) == 10 and respond.response_id == respond.best.response_id == ids[0]
    prefix = re.sub(r"[^A-Za-z0-9_-]+", "-", info.instance).strip("-")
    assert all(i.startswith(prefix + ".") and re.fullmatch(r"[A-Za-z0-9_.-]+", i) for i in ids)


def test_feedback_by_id_is_logged_counted_once_and_labelled_by_served_version(server, stub, artifacts):
    info = stub.ModelInfo(pb.ModelInfoRequest(), timeout=10)
    respond = stub.Respond(pb.RespondRequest(context=["Hi!", "What do you think about chess?"]), timeout=30)
    before = counted(server, info.served_version, "upvote")
    request = pb.FeedbackRequest(response_id=respond.response_id, reaction=pb.UPVOTE, session_id="s-1")
    first, second = stub.Feedback(request, timeout=10), stub.Feedback(request, timeout=10)
    assert (first.duplicate, second.duplicate) == (False, True)
    assert first.reranker_version == info.reranker_version
    assert counted(server, info.served_version, "upvote") == before + 1
    mine = [r for r in read_reactions(reactions_dir(artifacts.root, "tests", "chat"))
            if r.response_id == respond.response_id]
    assert len(mine) == 1 and mine[0].response == respond.best.text and mine[0].candidate_id == respond.best.id
    assert mine[0].context == ("Hi!", "What do you think about chess?") and mine[0].served_by.version == info.served_version
    # a Retrieve answer was not reranked: it counts under the model's version alone
    retrieved = stub.Retrieve(pb.RetrieveRequest(context=["Do you like coffee?"], top_k=2), timeout=30).candidates[1]
    assert stub.Feedback(pb.FeedbackRequest(response_id=retrieved.response_id, reaction=pb.DOWNVOTE), timeout=10)
    assert counted(server, info.model_version, "downvote") >= 1
    with pytest.raises(grpc.RpcError) as error:
        stub.Feedback(pb.FeedbackRequest(response_id=info.instance.replace("/", "-") + ".gone", reaction=pb.UPVOTE), timeout=10)
    assert error.value.code() is grpc.StatusCode.NOT_FOUND
    metrics = server.metrics()
    for name in ("rejoinder_reaction_log_write_seconds_bucket", "rejoinder_reaction_log_queue_depth",
                 'rejoinder_requests_total{code="NOT_FOUND",method="Feedback"}'):
        assert name in metrics, name


def test_a_long_history_keeps_its_last_turns(stub):
    history = [f"an old turn number {i}" for i in range(500)] + ["Let's go to an early movie"]
    long = stub.Respond(pb.RespondRequest(context=history, top_k=5), timeout=30)
    short = stub.Respond(pb.RespondRequest(context=history[-4:], top_k=5), timeout=30)  # maxContextTurns: 4
    assert [c.id for c in long.candidates] == [c.id for c in short.candidates]
    assert [round(c.score, 5) for c in long.candidates] == [round(c.score, 5) for c in short.candidates]


def test_a_request_over_the_byte_limit_is_resource_exhausted(stub):
    with pytest.raises(grpc.RpcError) as error:
        stub.Respond(pb.RespondRequest(context=["x" * 1000] * 5000), timeout=30)  # 5 MB > 4 MiB
    assert error.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED


def test_cli_feedback_and_query_show_ids(server, capsys):
    assert cli(["query", "--target", server.target, "Do you like music?", "-k", "2"]) == 0
    out = capsys.readouterr().out
    response_id = re.search(r"response id: (\S+)", out).group(1)
    assert cli(["feedback", "--target", server.target, "--id", response_id, "--down"]) == 0
    assert "downvote recorded" in capsys.readouterr().out
    assert cli(["feedback", "--target", server.target, "--id", response_id, "--down"]) == 0
    assert "already recorded" in capsys.readouterr().out
    assert cli(["feedback", "--target", server.target, "--context", "hi", "there", "--response", "hello", "--up"]) == 0
    assert cli(["feedback", "--target", server.target, "--id", "someone-else.x", "--up"]) == 2
    assert "NOT_FOUND" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli(["feedback", "--target", server.target, "--id", response_id])  # no reaction
    assert cli(["feedback", "--target", server.target, "--context", "hi", "--up"]) == 2


def test_sigkill_mid_stream_loses_no_acknowledged_reaction(artifacts, start_server, tmp_path):
    directory = tmp_path / "reactions"
    server = start_server(["-f", str(artifacts.retrieval_yaml), "--reactions-dir", str(directory),
                           "--reaction-batch", "16", "--drain-delay", "0", "--instance", "crash-pod"])
    server.wait_serving()
    acknowledged: list[str] = []
    lock, stop = threading.Lock(), threading.Event()

    def client(worker: int) -> None:
        with grpc.insecure_channel(server.target) as channel:
            stub = pb_grpc.DialogServiceStub(channel)
            for i in range(100_000):
                if stop.is_set():
                    return
                text = f"worker {worker} reaction {i}"
                try:
                    stub.Feedback(pb.FeedbackRequest(context=[text], response="ok", reaction=pb.UPVOTE), timeout=10)
                except grpc.RpcError:
                    return  # the server is gone: this one was not acknowledged
                with lock:
                    acknowledged.append(text)

    threads = [threading.Thread(target=client, args=(w,)) for w in range(6)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 60
    while len(acknowledged) < 300 and time.monotonic() < deadline:
        time.sleep(0.01)
    server.proc.send_signal(signal.SIGKILL)  # no drain, no flush: only what was fsync'd survives
    server.proc.wait(30)
    stop.set()
    for t in threads:
        t.join(30)
    assert len(acknowledged) >= 300, server.logs()
    logged = [r.context[0] for r in read_reactions(directory)]
    missing = set(acknowledged) - set(logged)
    assert not missing, f"{len(missing)} acknowledged reactions lost, e.g. {sorted(missing)[:3]}"
    assert len(logged) == len(set(logged))  # and none twice
    assert all(p.name.startswith("crash-pod.") for p in directory.iterdir())
