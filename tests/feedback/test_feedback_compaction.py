"""Compaction of reaction segments into reranker reactions, and `rejoinder data reactions`."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml

from rejoinder.cli import main
from rejoinder.feedback.compaction import USERS_SOURCE, NoReactions, compact, compact_dir
from rejoinder.feedback.records import ReactionKind, ReactionRecord, ServedBy
from rejoinder.feedback.segments import reactions_dir, segment_name
from rejoinder.text.formats import Reaction, read_records

T0 = datetime(2026, 12, 2, 4, 0, 0, tzinfo=timezone.utc)
UP, DOWN = ReactionKind.upvote, ReactionKind.downvote


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def record(rid: str, reaction: ReactionKind = UP, minutes: float = 0, version: str = "v-1", reranker: str = "",
           context: tuple[str, ...] = ("hi",), response: str = "hello", instance: str = "pod-a", **kw) -> ReactionRecord:
    return ReactionRecord(response_id=rid, reaction=reaction, context=context, response=response,
                          served_by=ServedBy(version, "i-1", reranker, instance), time=at(minutes), **kw)


def write_segment(directory: Path, instance: str, records: list[ReactionRecord], opened: float = 0,
                  sequence: int = 0, torn: bytes = b"") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / segment_name(instance, at(opened), sequence)
    path.write_bytes(b"".join(r.to_line() for r in records) + torn)
    return path


# --- the pure core -----------------------------------------------------------------------------


def test_the_same_reaction_told_twice_is_kept_once_with_its_context_and_source_users():
    a = record("r1", context=("how are you?",), response="fine")
    out = compact([a, record("r1", minutes=1, context=("how are you?",), response="fine"), record("r2", DOWN, 2)])
    assert out.reactions == [Reaction(("how are you?",), "fine", True, USERS_SOURCE), Reaction(("hi",), "hello", False, USERS_SOURCE)]
    s = out.summary
    assert (s.records_read, s.duplicates_dropped, s.conflicts_resolved, s.reactions) == (3, 1, 0, 2)


def test_an_answer_reacted_to_both_ways_keeps_its_latest_reaction():
    # up at 0, down at 5, up again at 1 (read later, acknowledged earlier): down is the latest
    out = compact([record("r1", UP, 0), record("r1", DOWN, 5), record("r1", UP, 1)])
    assert [r.upvote for r in out.reactions] == [False]
    assert (out.summary.duplicates_dropped, out.summary.conflicts_resolved) == (1, 1)
    # the user changed their mind back: the latest wins again
    assert [r.upvote for r in compact([record("r1", UP, 0), record("r1", DOWN, 5), record("r1", UP, 9)]).reactions] == [True]
    # feedback by text (no response id): the answer is the session, context and response
    by_text = [record("", UP, 0, session_id="s"), record("", DOWN, 3, session_id="s"), record("", UP, 4, session_id="t")]
    out = compact(by_text)
    assert [r.upvote for r in out.reactions] == [False, True] and out.summary.conflicts_resolved == 1


def test_the_cutoff_and_the_version_filter_leave_records_out_and_count_them():
    records = [record("r1", minutes=0), record("r2", DOWN, 10, version="v-2"), record("r3", minutes=20),
               record("r4", minutes=5, reranker="v-9")]
    out = compact(records, until=at(20))
    assert out.summary.after_cutoff == 1 and out.summary.reactions == 3  # until itself is excluded
    assert {v: (c.upvotes, c.downvotes) for v, c in out.summary.by_version.items()} == \
        {"v-1": (1, 0), "v-2": (0, 1), "v-1+v-9": (1, 0)}
    only = compact(records, versions={"v-1+v-9", "v-2"})
    assert only.summary.other_versions == 2 and only.summary.reactions == 2
    assert only.summary.by_version["v-2"].upvote_ratio == 0.0
    # a duplicate after the cutoff does not make the one before it a duplicate
    assert compact([record("r1", minutes=0), record("r1", minutes=30)], until=at(20)).summary.duplicates_dropped == 0


def test_the_output_is_in_acknowledged_time_order_whatever_the_read_order():
    out = compact([record("b", minutes=3, response="b"), record("a", minutes=1, response="a"), record("c", minutes=2, response="c")])
    assert [r.response for r in out.reactions] == ["a", "c", "b"]


# --- segments on disk ----------------------------------------------------------------------------


def test_several_instances_and_a_torn_last_line_are_compacted_together(tmp_path, caplog):
    d = tmp_path / "reactions"
    write_segment(d, "pod-a", [record("a1", minutes=1), record("a2", DOWN, 2)], opened=0, sequence=0)
    write_segment(d, "pod-a", [record("a3", minutes=4)], opened=3, sequence=1, torn=b'{"schema":1,"respon')
    write_segment(d, "pod-b", [record("b1", DOWN, 2, instance="pod-b"), record("a1", minutes=6, instance="pod-b")], opened=1)
    with caplog.at_level(logging.WARNING):
        out = compact_dir(d, until=at(5))
    s = out.summary
    assert (s.records_read, s.after_cutoff, s.duplicates_dropped, s.torn_lines_skipped, s.reactions) == (5, 1, 0, 1, 4)
    assert (s.overall.upvotes, s.overall.downvotes) == (2, 2) and "torn" in caplog.text


def test_an_empty_or_missing_directory_is_a_clear_error(tmp_path):
    with pytest.raises(NoReactions, match="no reaction segments"):
        compact_dir(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("not a segment")
    with pytest.raises(NoReactions, match="has the model been served"):
        compact_dir(tmp_path / "empty")


# --- the CLI ---------------------------------------------------------------------------------


def _model_file(tmp_path: Path, name: str, **data) -> Path:
    spec = {"task": "reranking" if data else "retrieval", "data": data or {"preset": "chatterbot"},
            "storage": {"path": str(tmp_path / "storage")}}
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"apiVersion": "rejoinder.dev/v1alpha1", "kind": "DialogModel",
                                    "metadata": {"name": name}, "spec": spec}))
    return path


def test_the_cli_prints_a_table_and_writes_reranker_reactions(tmp_path, capsys):
    d = reactions_dir(tmp_path / "storage", "default", "chat")
    write_segment(d, "pod-a", [record("r1", minutes=1), record("r1", minutes=2), record("r2", DOWN, 3, version="v-2")])
    out = tmp_path / "out" / "reactions.jsonl"
    assert main(["data", "reactions", "-f", str(_model_file(tmp_path, "chat")), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "served version" in printed and "v-1" in printed and "v-2" in printed and "duplicates dropped 1" in printed
    written = list(read_records(out, "reactions"))
    assert [(r.upvote, r.source) for r in written] == [(True, USERS_SOURCE), (False, USERS_SOURCE)]
    assert list(out.parent.iterdir()) == [out]  # written atomically: no temporary left beside it


def test_the_cli_json_summary_and_a_rerankers_own_cutoff(tmp_path, capsys):
    d = reactions_dir(tmp_path / "storage", "default", "chat")
    write_segment(d, "pod-a", [record("r1", minutes=1), record("r2", DOWN, 3), record("r3", minutes=30)])
    reranker = _model_file(tmp_path, "rr", reactionsFrom={"dialogModel": "chat", "until": at(10).isoformat()})
    out = tmp_path / "r.jsonl"
    assert main(["data", "reactions", "-f", str(reranker), "--out", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["reactions"] == 2 and summary["afterCutoff"] == 1 and summary["upvoteRatio"] == 0.5
    assert summary["byVersion"] == {"v-1": {"upvotes": 1, "downvotes": 1, "upvoteRatio": 0.5}}
    assert summary["until"] == "2026-12-02T04:10:00Z" and summary["reactionsDir"] == str(d)
    # --from a directory, --until overriding, --version filtering
    assert main(["data", "reactions", "--from", str(d), "--out", str(out), "--until", "2026-12-02T04:02:00Z", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["reactions"] == 1
    assert main(["data", "reactions", "--from", str(d), "--out", str(out), "--version", "v-7"]) == 1
    assert "no reactions left" in capsys.readouterr().err


def test_the_cli_refuses_bad_input_clearly_and_leaves_the_output_alone(tmp_path, capsys):
    out = tmp_path / "r.jsonl"
    out.write_text("kept\n")
    assert main(["data", "reactions", "--from", str(tmp_path / "none"), "--out", str(out)]) == 1
    assert "no reaction segments" in capsys.readouterr().err
    d = tmp_path / "bad"
    path = write_segment(d, "pod-a", [record("r1")])
    path.write_bytes(b"not json\n" + path.read_bytes())
    assert main(["data", "reactions", "--from", str(d), "--out", str(out)]) == 1
    assert f"{path}:1" in capsys.readouterr().err and out.read_text() == "kept\n"
    with pytest.raises(SystemExit):
        main(["data", "reactions", "--from", str(d), "--out", str(out), "--until", "2026-12-02T04:00:00"])
    assert "no time zone" in capsys.readouterr().err
