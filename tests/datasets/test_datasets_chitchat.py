"""The Chit-Chat importer: its rules on hand-written conversations, and the fixed split on the
real file (mechanics only: counts, disjointness, provenance, never quality numbers)."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from rejoinder.datasets import corpus
from rejoinder.datasets.base import Conversation, Counts, Split, split_by_id
from rejoinder.datasets.chitchat import parse
from rejoinder.datasets.presets import corpus_messages, corpus_pairs, corpus_sessions
from rejoinder.datasets.records import MAX_TURN_WORDS, SessionRule, conversation_pairs

A, B = "sender-a", "sender-b"


def _group(sender: str, *texts: str) -> list[dict]:
    return [{"text": t, "timestamp": "2018-05-02T19:38:15Z", "sender": sender} for t in texts]


def test_a_turn_is_one_senders_messages_and_the_rules_are_counted() -> None:
    raw = {
        "c2": {"messages": [_group(A, "Hello", "How are  you?"), _group(B, "fine", ""), _group(A, "  ")],
               "ratings": {"interesting": 7, "witty": 6, "upbeat": 8}},
        "c1": {"messages": [_group(A, "anyone here?"), _group(A, "hello?")]},  # someone waiting alone
        "c3": {"messages": [_group(A, "Hello", "How are  you?"), _group(B, "fine")]},  # c2's turns again
        "c0": {"messages": [_group(A, "hi"), _group(B, "")]},  # one turn left: no pair
    }
    counts = Counts()
    dialogs, monologues = parse(raw, counts)
    assert [c.id for c in dialogs] == ["c2"], "the duplicate under a larger id is dropped, c0 has one turn"
    assert dialogs[0].turns == ("Hello How are you?", "fine")
    assert dialogs[0].ratings == {"interesting": 7, "witty": 6, "upbeat": 8}
    assert monologues == [("c1", ["anyone here?", "hello?"])]
    assert counts.skipped == {"empty turns": 2, "one-sender conversations (kept as messages for pretraining)": 1,
                              "duplicate conversations": 1, "conversations with fewer than 2 turns": 1}


def test_the_split_is_the_issues_hash_of_the_id() -> None:
    for conv_id in ("a07edb12-6b91-4138-b11e-02421888d699", "x", "58a21226"):
        h = int(hashlib.sha256(conv_id.encode()).hexdigest()[:8], 16)
        want = "test" if h % 10 == 0 else "dev" if h % 10 == 1 else "train"
        assert split_by_id(conv_id).value == want


def test_pairs_bound_long_turns_and_keep_the_newest_context_turns() -> None:
    long = " ".join(f"w{i}" for i in range(MAX_TURN_WORDS + 5))
    conv = Conversation("c", ("one", long, "two", "three", long))
    counts = Counts()
    pairs = conversation_pairs(conv, 2, "chitchat", counts)
    assert [p.response for p in pairs] == ["two", "three"], "a reply over the bound is skipped"
    assert pairs[0].context[0] == "one" and len(pairs[0].context[1].split()) == MAX_TURN_WORDS
    assert pairs[0].context[1].split()[-1] == f"w{MAX_TURN_WORDS + 4}", "a long context turn keeps its newest words"
    assert pairs[1].context == pairs[0].context[1:] + ("two",)
    assert counts.skipped == {f"replies over {MAX_TURN_WORDS} words": 2} and counts.kept == {"pairs": 2}


def test_session_labels_come_from_a_threshold_chosen_on_train_only() -> None:
    train = [Conversation(str(i), ("a", "b"), {"interesting": s, "witty": s, "upbeat": s}) for i, s in enumerate([2, 6, 8, 9, 10])]
    untouched = Conversation("u", ("a", "b"), {"interesting": 5, "witty": 5, "upbeat": 5})
    rule = SessionRule.from_train([*train, untouched])
    assert rule.threshold == 8.0
    assert rule.label(untouched) is None and rule.label(Conversation("n", ("a", "b"))) is None
    assert [rule.label(c) for c in train] == [False, False, True, True, True]
    with pytest.raises(ValueError, match="no rated training sessions"):
        SessionRule.from_train([untouched])


@pytest.fixture(scope="module")
def chitchat():
    return corpus("chitchat")


def test_the_real_corpus_splits_by_conversation_disjointly_and_deterministically(chitchat) -> None:
    conversations = list(chitchat.conversations())
    splits = Counter(chitchat.split_of(c) for c in conversations)
    assert set(splits) == set(Split) and splits[Split.train] > splits[Split.dev] > 0 and splits[Split.test] > 0
    again = {c.id: chitchat.split_of(c) for c in corpus("chitchat").conversations()}
    assert again == {c.id: chitchat.split_of(c) for c in conversations}
    pairs = corpus_pairs(chitchat, 2)
    sides = {id(pairs.records): "train", id(pairs.held): "dev", id(pairs.test): "test"}
    assert len(sides) == 3
    turns = {name: {p.response for p in rows} for name, rows in (("train", pairs.records), ("dev", pairs.held), ("test", pairs.test))}
    # different conversations may say "yeah" alike, but whole held-out dialogs are not in train
    test_dialogs = {c.turns for c in conversations if chitchat.split_of(c) == Split.test}
    train_dialogs = {c.turns for c in conversations if chitchat.split_of(c) == Split.train}
    assert not test_dialogs & train_dialogs
    assert all(len(p.context) <= 2 for p in pairs.records[:1000])
    pool = {c.text for c in pairs.candidates}
    assert turns["dev"] <= pool and turns["test"] <= pool, "every held-out reply is rankable"
    assert len(pool) >= 100_000
    provenance = pairs.provenance
    assert provenance["package"] == "chitchat-dataset" and len(provenance["sha256"]) == 64
    assert provenance["import"]["skipped"]["one-sender conversations (kept as messages for pretraining)"] > 3000
    assert provenance["conversations"] == {s.value: splits[s] for s in Split}


def test_sessions_and_messages_never_read_test_for_training(chitchat) -> None:
    sessions = corpus_sessions(chitchat)
    assert sessions.labels["proxy"] is False and "median over rated training sessions" in sessions.labels["description"]
    assert {s.positive for s in sessions.records} == {True, False} and sessions.test
    messages = corpus_messages(chitchat)
    assert messages.test is None, "pretraining never sees the test split"
    assert len(messages.records) > len({t for c in chitchat.conversations()
                                        if chitchat.split_of(c) == Split.train for t in c.turns}), \
        "the one-sender conversations' messages count for pretraining"


def test_import_chitchat_writes_every_split_and_the_provenance(tmp_path: Path) -> None:
    out = tmp_path / "cc"
    run = subprocess.run([sys.executable, "-m", "rejoinder", "data", "import-chitchat", "-o", str(out), "--context-turns", "2"],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    names = {p.name for p in out.iterdir()}
    assert {"pairs-train.jsonl", "pairs-dev.jsonl", "pairs-test.jsonl", "candidates.jsonl", "sessions-test.jsonl",
            "messages-train.jsonl", "provenance.json"} <= names and "messages-test.jsonl" not in names
    check = subprocess.run([sys.executable, "-m", "rejoinder", "data", "check", str(out / "pairs-dev.jsonl"), "--kind", "pairs"],
                           capture_output=True, text=True, timeout=120)
    assert check.returncode == 0, check.stderr
    provenance = json.loads((out / "provenance.json").read_text())
    assert provenance["pairs"]["split"].startswith("by conversation id")
