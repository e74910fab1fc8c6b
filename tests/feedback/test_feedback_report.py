"""`rejoinder report`: the table's numbers from a known log, the cumulative ratios, the title, the PNG."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

from rejoinder.feedback.records import ReactionKind, ReactionRecord, ServedBy
from rejoinder.constants import CANARY_FILE
from rejoinder.feedback.report import all_simulated, by_version, cumulative_ratios, format_table, from_time, title, unique
from rejoinder.feedback.segments import reactions_dir, segment_name

T0 = datetime(2026, 12, 2, 4, 0, 0, tzinfo=timezone.utc)
UP, DOWN = ReactionKind.upvote, ReactionKind.downvote


def rec(n: int, reaction: ReactionKind, reranker: str, seconds: int, session: str = "") -> ReactionRecord:
    return ReactionRecord(f"id-{n}", reaction, ("hi",), "hello", ServedBy("m1", "i1", reranker, "pod"),
                          T0 + timedelta(seconds=seconds), session_id=session or f"sim-1-{n}")


LOG = [rec(0, UP, "r1", 0), rec(1, DOWN, "r1", 1), rec(2, DOWN, "r1", 2), rec(3, UP, "r2", 3),
       rec(4, UP, "r2", 4), rec(5, DOWN, "r2", 5), rec(6, UP, "r1", 6), rec(4, UP, "r2", 7)]  # id-4 told twice


def test_the_table_counts_each_reaction_once_per_served_version():
    rows = by_version(unique(LOG))
    assert [(r.version, r.reactions, r.upvotes) for r in rows] == [("m1+r1", 4, 2), ("m1+r2", 3, 2)]
    assert rows[0].ratio == 0.5 and rows[1].first == T0 + timedelta(seconds=3) and rows[1].last == T0 + timedelta(seconds=5)
    lines = format_table(rows).splitlines()
    assert lines[0].split() == ["VERSION", "REACTIONS", "UPVOTES", "RATIO", "FIRST", "LAST"]
    assert lines[1].split()[:4] == ["m1+r1", "4", "2", "0.500"] and lines[2].split()[:4] == ["m1+r2", "3", "2", "0.667"]


def test_cumulative_ratios_follow_each_version_in_time_order():
    series = cumulative_ratios(unique(LOG))
    assert [round(p.ratio, 3) for p in series["m1+r1"]] == [1.0, 0.5, 0.333, 0.5]
    assert [p.reactions for p in series["m1+r2"]] == [1, 2, 3]


def test_the_title_says_when_users_are_simulated():
    assert all_simulated(LOG) and "SIMULATED" in title(LOG, "chat")
    mixed = [*LOG, rec(9, UP, "r1", 9, session="alice")]
    assert not all_simulated(mixed) and "some sessions simulated" in title(mixed, "chat")
    assert "simulated" not in title([rec(9, UP, "r1", 9, session="alice")], "chat").lower()


def test_the_cli_prints_the_table_and_writes_a_png(tmp_path: Path):
    directory = reactions_dir(tmp_path, "default", "chat")
    directory.mkdir(parents=True)
    (directory / segment_name("pod", T0, 0)).write_bytes(b"".join(r.to_line() for r in LOG))
    png = tmp_path / "ratio.png"
    done = subprocess.run([sys.executable, "-m", "rejoinder", "report", "--artifacts", str(tmp_path), "--model", "chat",
                           "--png", str(png)], capture_output=True, text=True, env={**os.environ, "PYTHONSAFEPATH": "1"})
    assert done.returncode == 0, done.stderr
    assert "m1+r1" in done.stdout and "0.667" in done.stdout and "simulated" in done.stdout.lower()
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000


def test_the_cli_says_plainly_when_there_is_nothing_to_report(tmp_path: Path):
    done = subprocess.run([sys.executable, "-m", "rejoinder", "report", "--artifacts", str(tmp_path), "--model", "chat"],
                          capture_output=True, text=True, env={**os.environ, "PYTHONSAFEPATH": "1"})
    assert done.returncode == 1 and "no reactions" in done.stderr


def test_from_time_keeps_the_reactions_told_at_or_after_it():
    cut = T0 + timedelta(seconds=3)
    assert [r.response_id for r in from_time(unique(LOG), cut)] == ["id-3", "id-4", "id-5", "id-6"]
    rows = by_version(from_time(unique(LOG), cut))
    assert [(r.version, r.reactions, r.upvotes) for r in rows] == [("m1+r2", 3, 2), ("m1+r1", 1, 1)]


def _report(tmp_path: Path, *extra: str) -> subprocess.CompletedProcess:
    directory = reactions_dir(tmp_path, "default", "chat")
    directory.mkdir(parents=True, exist_ok=True)
    (directory / segment_name("pod", T0, 0)).write_bytes(b"".join(r.to_line() for r in LOG))
    return subprocess.run([sys.executable, "-m", "rejoinder", "report", "--artifacts", str(tmp_path), "--model", "chat",
                           "--png", str(tmp_path / "ratio.png"), *extra],
                          capture_output=True, text=True, env={**os.environ, "PYTHONSAFEPATH": "1"})


def test_the_cli_also_counts_from_a_given_time_so_side_by_side_versions_compare_over_one_period(tmp_path: Path):
    done = _report(tmp_path, "--since", "2026-12-02T04:00:03Z")
    assert done.returncode == 0, done.stderr
    later = done.stdout.split("from 2026-12-02T04:00:03Z on")[1]
    assert later.splitlines()[2].split()[:4] == ["m1+r2", "3", "2", "0.667"]
    assert later.splitlines()[3].split()[:4] == ["m1+r1", "1", "1", "1.000"]  # r1 counted from the cut only
    assert (tmp_path / "ratio.png").stat().st_size > 5000


def test_the_cli_counts_from_the_local_loops_canary_start_by_default(tmp_path: Path):
    root = tmp_path / "default" / "chat"
    root.mkdir(parents=True)
    (root / CANARY_FILE).write_text(json.dumps({"since": "2026-12-02T04:00:03Z", "outcome": "Promoted"}))
    done = _report(tmp_path)
    assert done.returncode == 0, done.stderr
    assert "from 2026-12-02T04:00:03Z on" in done.stdout


def test_the_cli_refuses_a_time_without_a_zone(tmp_path: Path):
    done = _report(tmp_path, "--since", "2026-12-02T04:00:03")
    assert done.returncode == 2 and "time zone" in done.stderr
