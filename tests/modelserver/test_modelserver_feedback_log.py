"""The reaction log (group commit, fsync before OK, rotation, failing disks) and the answer memory,
without a server: real files in tmp_path, failures injected through the Disk seam."""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timezone
from pathlib import Path

import pytest

from rejoinder.feedback.records import ReactionKind, ReactionRecord, ServedBy
from rejoinder.feedback.segments import SegmentName, read_reactions, read_segment, segments
from rejoinder.modelserver.answers import Answer, AnswerMemory, ExpiringMap, instance_of, new_response_id
from rejoinder.modelserver.reaction_log import Disk, LogFull, LogUnavailable, ReactionLog, ReactionLogConfig

WHEN = datetime(2026, 12, 2, 4, 0, 0, tzinfo=timezone.utc)
SERVED = ServedBy("v-1", "i-1", "v-r", "pod-a")


def record(i: int, reaction: ReactionKind = ReactionKind.upvote) -> ReactionRecord:
    return ReactionRecord(f"pod-a.id{i}", reaction, (f"context {i}",), f"response {i}", SERVED, WHEN)


class CountingDisk(Disk):
    """The real disk, counting fsyncs and what each write carried; optionally failing from write N on."""

    def __init__(self, fail_from_write: int | None = None, gate: threading.Event | None = None) -> None:
        self.fsyncs = 0
        self.writes: list[int] = []  # lines per write
        self.fail_from_write = fail_from_write
        self.gate = gate

    def write(self, f, data: bytes) -> None:
        if self.gate is not None:
            self.gate.wait(10)
        self.writes.append(data.count(b"\n"))
        if self.fail_from_write is not None and len(self.writes) >= self.fail_from_write:
            f.write(data[: len(data) // 2])  # half a batch reaches the file, as a dying disk might
            f.flush()
            raise OSError(5, "Input/output error")
        super().write(f, data)

    def fsync(self, f) -> None:
        self.fsyncs += 1
        super().fsync(f)


def test_every_acknowledged_record_is_on_disk_and_reads_back(tmp_path):
    disk = CountingDisk()
    log = ReactionLog(ReactionLogConfig(tmp_path, batch_size=64), "pod-a", disk=disk, now=lambda: WHEN)
    futures = [log.append(record(i)) for i in range(200)]
    for f in futures:
        assert f.result(timeout=10) is None
    log.close()
    assert [r.response_id for r in read_reactions(tmp_path)] == [f"pod-a.id{i}" for i in range(200)]
    assert list(read_reactions(tmp_path))[0] == record(0)  # the whole record round-trips


def test_group_commit_writes_a_batch_per_fsync(tmp_path):
    gate = threading.Event()  # hold the writer on its first batch so the queue fills behind it
    disk = CountingDisk(gate=gate)
    log = ReactionLog(ReactionLogConfig(tmp_path, batch_size=50, queue_size=1000), "pod-a", disk=disk)
    futures = [log.append(record(i)) for i in range(101)]
    gate.set()
    for f in futures:
        f.result(timeout=10)
    log.close()
    assert sum(disk.writes) == 101 and max(disk.writes) == 50 and len(disk.writes) <= 4
    assert disk.fsyncs <= len(disk.writes) + 1  # one per batch, plus the close


def test_a_full_queue_refuses_at_once(tmp_path):
    gate = threading.Event()
    log = ReactionLog(ReactionLogConfig(tmp_path, batch_size=1, queue_size=3), "pod-a", disk=CountingDisk(gate=gate))
    accepted = []
    with pytest.raises(LogFull, match="queue is full \\(3 reactions"):
        for i in range(10):
            accepted.append(log.append(record(i)))
    assert 3 <= len(accepted) <= 4  # the writer may hold one taken from the queue
    gate.set()
    for f in accepted:
        f.result(timeout=10)
    log.close()
    assert len(list(read_reactions(tmp_path))) == len(accepted)


def test_a_failing_disk_fails_the_batch_and_the_next_batch_starts_a_new_segment(tmp_path, caplog):
    disk = CountingDisk(fail_from_write=2)
    log = ReactionLog(ReactionLogConfig(tmp_path, batch_size=1), "pod-a", disk=disk, now=lambda: WHEN)
    log.append(record(0)).result(timeout=10)
    with pytest.raises(LogUnavailable, match="cannot write to disk .*Input/output error"):
        log.append(record(1)).result(timeout=10)
    disk.fail_from_write = None  # the disk recovers
    log.append(record(2)).result(timeout=10)
    log.close()
    files = segments(tmp_path)
    assert len(files) == 2, files  # the failed segment was abandoned, never appended to again
    assert [r.response_id for r in read_segment(files[1])] == ["pod-a.id2"]
    with caplog.at_level(logging.WARNING):
        # the half-written line is the abandoned segment's last line: skipped with a warning
        assert [r.response_id for r in read_segment(files[0])] == ["pod-a.id0"]
    assert "torn last line" in caplog.text


def test_a_disk_that_cannot_create_files_is_unavailable(tmp_path):
    class ReadOnly(Disk):
        def create(self, path: Path):
            raise PermissionError(13, "Read-only file system", str(path))

    log = ReactionLog(ReactionLogConfig(tmp_path), "pod-a", disk=ReadOnly())
    with pytest.raises(LogUnavailable, match="Read-only file system"):
        log.append(record(0)).result(timeout=10)
    log.close()
    with pytest.raises(LogUnavailable, match="closed"):
        log.append(record(1))


def test_segments_rotate_by_size_and_a_restart_never_appends(tmp_path):
    line = len(record(0).to_line())
    config = ReactionLogConfig(tmp_path, segment_bytes=3 * line, batch_size=1)
    log = ReactionLog(config, "pod-a", now=lambda: WHEN)
    for i in range(7):
        log.append(record(i)).result(timeout=10)
    log.close()
    files = segments(tmp_path)
    assert [len(list(read_segment(p))) for p in files] == [3, 3, 1]
    assert all(p.stat().st_size <= 3 * line + line for p in files)
    # a restart with the same instance name in the same second: new files, the old ones untouched
    before = {p: p.read_bytes() for p in files}
    again = ReactionLog(config, "pod-a", now=lambda: WHEN)
    again.append(record(7)).result(timeout=10)
    again.close()
    assert {p: p.read_bytes() for p in files} == before
    assert len(segments(tmp_path)) == 4
    names = [SegmentName.parse(p.name) for p in segments(tmp_path)]
    assert [n.sequence for n in names] == [0, 1, 2, 3] and {n.instance for n in names} == {"pod-a"}
    assert [r.response_id for r in read_reactions(tmp_path)] == [f"pod-a.id{i}" for i in range(8)]


def test_a_torn_last_line_of_a_written_segment_is_skipped_with_a_warning(tmp_path, caplog):
    log = ReactionLog(ReactionLogConfig(tmp_path), "pod-a")
    for i in range(3):
        log.append(record(i)).result(timeout=10)
    log.close()
    (path,) = segments(tmp_path)
    whole = record(3).to_line()
    with open(path, "ab") as f:  # the process died mid-write of record 3
        f.write(whole[: len(whole) // 2])
    with caplog.at_level(logging.WARNING):
        assert [r.response_id for r in read_reactions(tmp_path)] == ["pod-a.id0", "pod-a.id1", "pod-a.id2"]
    assert "skipped a torn last line" in caplog.text


def test_close_writes_what_was_queued(tmp_path):
    gate = threading.Event()
    log = ReactionLog(ReactionLogConfig(tmp_path, batch_size=4), "pod-a", disk=CountingDisk(gate=gate))
    futures = [log.append(record(i)) for i in range(20)]
    gate.set()
    log.close()
    assert all(f.done() and f.exception() is None for f in futures)
    assert len(list(read_reactions(tmp_path))) == 20


def test_config_refuses_nonsense():
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        ReactionLogConfig(Path("."), batch_size=0)


# --- answer memory -----------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_response_ids_are_unique_url_safe_and_name_their_instance():
    ids = {new_response_id("chat-7d9f/12") for _ in range(10_000)}
    assert len(ids) == 10_000
    some = next(iter(ids))
    assert instance_of(some) == "chat-7d9f-12"
    assert all(c.isalnum() or c in "-_." for c in some)
    assert instance_of("no-dot") == ""


def test_answers_expire_after_their_ttl_and_beyond_capacity():
    clock = Clock()
    memory = AnswerMemory(capacity=3, ttl_s=10, clock=clock)
    answer = Answer(("hi",), "hello", "c1", SERVED)
    memory.remember("a", answer)
    clock.t = 5
    memory.remember("b", answer)
    assert memory.recall("a") is answer
    clock.t = 10.5
    assert memory.recall("a") is None and memory.recall("b") is answer
    for key in "cde":
        memory.remember(key, answer)
    assert len(memory) == 3 and memory.recall("b") is None and memory.recall("e") is answer
    with pytest.raises(ValueError):
        ExpiringMap(0, 1)
