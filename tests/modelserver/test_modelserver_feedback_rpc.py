"""The Feedback RPC over a real gRPC server on 127.0.0.1, in this process so that the clock and the
disk can be injected: expiry, a full queue, a failing disk, duplicates under concurrency.

Where this is looser than `rejoinder serve`: no model is loaded (Feedback never touches one), so
ids are planted in the answer memory the way Retrieve/Respond plant them; the subprocess tests
(test_modelserver_feedback_server.py) cover ids made by real answers.
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import grpc
import pytest

from rejoinder.feedback.records import ServedBy
from rejoinder.feedback.segments import read_reactions
from rejoinder.modelserver import validation
from rejoinder.modelserver.answers import Answer, AnswerMemory, new_response_id
from rejoinder.modelserver.config import BatchingConfig
from rejoinder.modelserver.feedback import FeedbackDesk
from rejoinder.modelserver.metrics import ServerMetrics
from rejoinder.modelserver.protos import dialog_service_pb2 as pb
from rejoinder.modelserver.protos import dialog_service_pb2_grpc as pb_grpc
from rejoinder.modelserver.reaction_log import Disk, ReactionLog, ReactionLogConfig
from rejoinder.modelserver.service import DialogService, ServedIdentity

INSTANCE = "pod-a"
IDENTITY = ServedIdentity(name="chat", namespace="tests", task="retrieval", model_version="v-1", index_version="i-1",
                          reranker_version="v-r")


class NoModel:
    """A runtime that serves no model method (ModelInfo only): Feedback does not need one."""

    methods = ["ModelInfo"]
    index = None
    shapes = ()


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


class GatedDisk(Disk):
    """Blocks writes until `open` is set; fails them while `failing` is set."""

    def __init__(self) -> None:
        self.open = threading.Event()
        self.open.set()
        self.failing = False

    def write(self, f, data: bytes) -> None:
        self.open.wait(30)
        if self.failing:
            raise OSError(28, "No space left on device")
        super().write(f, data)


@dataclass
class Served:
    stub: pb_grpc.DialogServiceStub
    desk: FeedbackDesk
    metrics: ServerMetrics
    clock: Clock
    disk: GatedDisk
    directory: Path

    def plant(self, turns=("hi",), text="hello there") -> str:
        """Remember an answer as Respond does; returns its response id."""
        response_id = new_response_id(INSTANCE)
        self.desk.answers.remember(response_id, Answer(tuple(turns), text, "c7", ServedBy("v-1", "i-1", "v-r", INSTANCE)))
        return response_id

    def counted(self, reaction: str, version: str = "v-1+v-r") -> float:
        return self.metrics.registry.get_sample_value(
            "rejoinder_feedback_total", {"version": version, "reaction": reaction}) or 0.0


@pytest.fixture()
def served(tmp_path) -> Iterator[Served]:
    metrics, clock, disk = ServerMetrics(), Clock(), GatedDisk()
    log = ReactionLog(ReactionLogConfig(tmp_path, queue_size=4, batch_size=2), INSTANCE, disk=disk, observer=metrics)
    desk = FeedbackDesk(AnswerMemory(100, 60.0, clock), log, metrics, INSTANCE)
    service = DialogService(NoModel(), IDENTITY, validation.Limits(max_context_turns=2), BatchingConfig(), metrics,  # type: ignore[arg-type]
                            instance=INSTANCE, feedback_desk=desk)
    service.ready = True
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    async def start() -> tuple[grpc.aio.Server, int]:
        server = grpc.aio.server()
        server.add_generic_rpc_handlers((service.handler(),))
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        return server, port

    server, port = asyncio.run_coroutine_threadsafe(start(), loop).result(30)
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        yield Served(pb_grpc.DialogServiceStub(channel), desk, metrics, clock, disk, tmp_path)
    disk.open.set()
    asyncio.run_coroutine_threadsafe(server.stop(0), loop).result(30)
    asyncio.run_coroutine_threadsafe(service.close(), loop).result(30)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)


def eventually(check, timeout_s: float = 5.0) -> bool:
    """Futures complete on gRPC's threads: wait for them a bounded while."""
    import time

    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def code_of(call) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as info:
        call()
    return info.value.code(), info.value.details()


def test_feedback_by_id_is_logged_with_what_was_answered(served):
    response_id = served.plant(turns=("hi", "how are you?"))
    reply = served.stub.Feedback(pb.FeedbackRequest(response_id=response_id, reaction=pb.UPVOTE, session_id="s1"))
    assert not reply.duplicate and (reply.model_version, reply.reranker_version) == ("v-1", "v-r")
    (record,) = read_reactions(served.directory)
    assert (record.response_id, record.context, record.response, record.candidate_id, record.session_id) == (
        response_id, ("hi", "how are you?"), "hello there", "c7", "s1")
    assert record.served_by.version == "v-1+v-r" and served.counted("upvote") == 1


def test_the_same_reaction_twice_is_a_duplicate_counted_and_logged_once(served):
    response_id = served.plant()
    request = pb.FeedbackRequest(response_id=response_id, reaction=pb.DOWNVOTE)
    with ThreadPoolExecutor(8) as pool:  # concurrently: one writes, the rest wait for it
        replies = list(pool.map(lambda _: served.stub.Feedback(request), range(8)))
    assert sorted(r.duplicate for r in replies) == [False] + [True] * 7
    assert served.stub.Feedback(request).duplicate
    assert served.counted("downvote") == 1 and len(list(read_reactions(served.directory))) == 1
    # the opposite reaction later is a new record (the user changed their mind)
    assert not served.stub.Feedback(pb.FeedbackRequest(response_id=response_id, reaction=pb.UPVOTE)).duplicate
    assert [r.reaction.value for r in read_reactions(served.directory)] == ["downvote", "upvote"]
    # by text, the same: (session, context, response, reaction) names the answer
    by_text = pb.FeedbackRequest(context=["a", "b", "c"], response="sure", reaction=pb.UPVOTE, session_id="s")
    assert [served.stub.Feedback(by_text).duplicate for _ in range(2)] == [False, True]
    assert served.metrics.registry.get_sample_value("rejoinder_feedback_duplicates_total", {"reaction": "upvote"}) == 1


def test_feedback_by_text_keeps_the_turns_the_model_uses(served):
    reply = served.stub.Feedback(pb.FeedbackRequest(context=["one", "two", "three"], response="ok", reaction=pb.UPVOTE))
    assert reply.model_version == "v-1" and reply.reranker_version == "" and not reply.duplicate  # nothing reranks here
    (record,) = read_reactions(served.directory)
    assert record.context == ("two", "three") and record.response_id == "" and record.response == "ok"


def test_unknown_and_expired_ids_are_not_found(served):
    code, message = code_of(lambda: served.stub.Feedback(
        pb.FeedbackRequest(response_id=f"{INSTANCE}.nosuchid", reaction=pb.UPVOTE)))
    assert code is grpc.StatusCode.NOT_FOUND and "unknown or expired" in message and "context and the response" in message
    code, message = code_of(lambda: served.stub.Feedback(
        pb.FeedbackRequest(response_id="pod-b.abcdef", reaction=pb.UPVOTE)))
    assert code is grpc.StatusCode.NOT_FOUND and "answered by server 'pod-b'" in message
    response_id = served.plant()
    served.clock.t += 61  # past the 60 s TTL
    code, message = code_of(lambda: served.stub.Feedback(pb.FeedbackRequest(response_id=response_id, reaction=pb.UPVOTE)))
    assert code is grpc.StatusCode.NOT_FOUND and "remembered for 60 s" in message
    assert list(read_reactions(served.directory)) == []


BAD = [
    (pb.FeedbackRequest(response_id="pod-a.x"), "reaction REACTION_UNSPECIFIED is not a reaction"),
    (pb.FeedbackRequest(response_id="pod-a.x", reaction=7), "reaction 7 is not a reaction"),
    (pb.FeedbackRequest(reaction=pb.UPVOTE), "send the response_id .* or the context and the response"),
    (pb.FeedbackRequest(context=["hi"], reaction=pb.UPVOTE), "response is empty"),
    (pb.FeedbackRequest(response="hello", reaction=pb.UPVOTE), "context is empty"),
    (pb.FeedbackRequest(context=["hi", " "], response="x", reaction=pb.UPVOTE), r"context\[1\] is empty"),
    (pb.FeedbackRequest(response_id="pod-a.x", response="hello", reaction=pb.UPVOTE), "not both"),
    (pb.FeedbackRequest(response_id="x" * 300, reaction=pb.UPVOTE), "response_id has 300 characters"),
    (pb.FeedbackRequest(context=["hi"], response="x", session_id="s" * 300, reaction=pb.UPVOTE), "session_id has 300"),
]


@pytest.mark.parametrize("request_, message", BAD, ids=[m for _, m in BAD])
def test_bad_feedback_is_invalid_argument(served, request_, message):
    import re

    code, details = code_of(lambda: served.stub.Feedback(request_))
    assert code is grpc.StatusCode.INVALID_ARGUMENT and re.search(message, details), details
    # counted before the status went out, so no waiting: a client that saw the error finds it counted
    assert served.metrics.registry.get_sample_value(
        "rejoinder_requests_total", {"method": "Feedback", "code": "INVALID_ARGUMENT"}) == 1


def test_a_full_queue_is_resource_exhausted_and_nothing_is_lost(served):
    served.disk.open.clear()  # the disk stalls: the writer holds one batch, the queue (4) fills
    futures = [served.stub.Feedback.future(pb.FeedbackRequest(context=[f"c{i}"], response="r", reaction=pb.UPVOTE),
                                            timeout=30) for i in range(20)]
    assert eventually(lambda: sum(f.done() for f in futures) >= 20 - 6)  # 20 - the batch held - the queue
    # Every request was answered or queued while the disk stalled; under load a rejection may
    # still be on its way, so each future is classified by its outcome once the disk is back.
    served.disk.open.set()
    outcomes = [(f, f.exception(timeout=30)) for f in futures]
    exhausted = [f for f, error in outcomes if error is not None]
    ok = [f for f, error in outcomes if error is None]
    assert len(exhausted) >= 20 - 6 and all(f.code() is grpc.StatusCode.RESOURCE_EXHAUSTED for f in exhausted)
    assert "queue is full (4 reactions" in exhausted[0].details()
    assert ok and all(f.result(timeout=30) is not None for f in ok)
    assert len(list(read_reactions(served.directory))) == len(ok) == served.counted("upvote", "v-1")
    assert served.metrics.registry.get_sample_value(
        "rejoinder_reaction_log_errors_total", {"kind": "queue_full"}) == len(exhausted)


def test_a_failing_disk_is_unavailable_and_counts_nothing(served):
    served.disk.failing = True
    code, message = code_of(lambda: served.stub.Feedback(
        pb.FeedbackRequest(context=["hi"], response="x", reaction=pb.UPVOTE)))
    assert code is grpc.StatusCode.UNAVAILABLE and "No space left on device" in message
    assert served.counted("upvote", "v-1") == 0
    served.disk.failing = False  # the same reaction again is not a duplicate: it was never recorded
    assert not served.stub.Feedback(pb.FeedbackRequest(context=["hi"], response="x", reaction=pb.UPVOTE)).duplicate
    assert served.counted("upvote", "v-1") == 1 and len(list(read_reactions(served.directory))) == 1
