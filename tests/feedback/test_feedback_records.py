"""The reaction record and its segments: strict round trip, torn last line skipped, corruption refused."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone

import pytest

from rejoinder.feedback.records import ReactionKind, ReactionRecord, RecordError, ServedBy
from rejoinder.feedback.segments import SegmentName, read_reactions, segment_name, segments

WHEN = datetime(2026, 12, 2, 4, 0, 0, tzinfo=timezone.utc)


def record(rid: str = "r1", reaction: ReactionKind = ReactionKind.upvote, **kw) -> ReactionRecord:
    base = dict(response_id=rid, reaction=reaction, context=("hi", "how are you?"), response="fine, thanks",
                served_by=ServedBy("v-1", "i-1", "", "pod-a"), time=WHEN)
    base.update(kw)
    return ReactionRecord(**base)


def test_a_record_round_trips_through_one_ascii_line():
    r = record(context=("line\nbreak", "ünïcode"), session_id="s-9", candidate_id="c-3")
    line = r.to_line()
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert ReactionRecord.from_line(line) == r


@pytest.mark.parametrize("change, reason", [
    ({"schema": 2}, "schema"),
    ({"reaction": "meh"}, "reaction"),
    ({"context": []}, "context"),
    ({"context": ["ok", 3]}, "context"),
    ({"response": ""}, "response"),
    ({"modelVersion": ""}, "modelVersion"),
    ({"time": "yesterday"}, "time"),
    ({"sessionId": 5}, "sessionId"),
])
def test_a_bad_record_is_refused_naming_the_field(change, reason):
    obj = {**record().to_json(), **change}
    with pytest.raises(RecordError, match=reason):
        ReactionRecord.from_json(obj)


def test_the_same_reaction_told_twice_has_one_key_and_a_different_reaction_another():
    assert record().dedupe_key == record(time=datetime(2027, 1, 1, tzinfo=timezone.utc)).dedupe_key
    assert record().dedupe_key != record(reaction=ReactionKind.downvote).dedupe_key
    by_text = record(rid="")
    assert by_text.dedupe_key == record(rid="", served_by=ServedBy("v-2")).dedupe_key
    assert by_text.dedupe_key != record(rid="", response="other").dedupe_key


def test_segments_are_named_per_instance_and_read_oldest_first(tmp_path):
    later = datetime(2026, 12, 2, 5, 0, 0, tzinfo=timezone.utc)
    names = [segment_name("pod/b", later, 0), segment_name("pod-a", WHEN, 1), segment_name("pod-a", WHEN, 0)]
    for i, name in enumerate(names):
        (tmp_path / name).write_bytes(record(rid=f"r{i}").to_line())
    (tmp_path / "notes.txt").write_text("not a segment")
    assert SegmentName.parse(names[0]) == SegmentName("pod-b", later, 0)
    assert [p.name for p in segments(tmp_path)] == [names[2], names[1], names[0]]
    assert [r.response_id for r in read_reactions(tmp_path)] == ["r2", "r1", "r0"]
    assert segments(tmp_path / "absent") == []


def test_a_torn_last_line_is_skipped_with_a_warning(tmp_path, caplog):
    path = tmp_path / segment_name("pod-a", WHEN, 0)
    path.write_bytes(record("r1").to_line() + record("r2").to_line() + record("r3").to_line()[:25])
    with caplog.at_level(logging.WARNING):
        assert [r.response_id for r in read_reactions(tmp_path)] == ["r1", "r2"]
    assert "torn last line" in caplog.text


def test_a_bad_line_before_the_end_is_corruption_named_by_file_and_line(tmp_path):
    path = tmp_path / segment_name("pod-a", WHEN, 0)
    path.write_bytes(record("r1").to_line() + b'{"schema": 1}\n' + record("r3").to_line())
    with pytest.raises(RecordError, match=rf"{path.name}:2: "):
        list(read_reactions(tmp_path))
    assert json.loads(record().to_line())["reaction"] == "upvote"


def test_a_retrained_reranker_is_a_new_served_version_of_the_same_model():
    assert ServedBy("v-1").version == "v-1"
    assert ServedBy("v-1", "i-1", "v-9").version == "v-1+v-9"
    assert ServedBy("v-1", "i-1", "v-9").version != ServedBy("v-1", "i-1", "v-8").version
