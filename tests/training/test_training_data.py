"""Data preparation and shards: validated, reused on restart, bad input refused with its location."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rejoinder.api import parse_dialog_model
from rejoinder.text.formats import DataFormatError, RecordKind
from rejoinder.training import shards
from rejoinder.training.data_prep import detect_kind, prepare_data
from rejoinder.datasets.proxy import random_negative_reactions

from training_support import tiny_model


def _spec(tmp_path, **spec):
    return parse_dialog_model(tiny_model("d", tmp_path, **spec)).spec


def test_chatterbot_preset_for_retrieval_holds_out_pairs_and_pools_their_responses(tmp_path):
    prepared = prepare_data(_spec(tmp_path), tmp_path / "data")
    assert prepared.kind is RecordKind.pairs
    train, held, pool = prepared.train(), prepared.eval(), prepared.candidates()
    assert len(train) > 1000 and 80 < len(held) < 200
    assert {p.response for p in held} <= {c.text for c in pool}
    assert {p.context for p in held}.isdisjoint({p.context for p in train})  # split by context
    # a second call (a restarted run) reuses the files instead of re-splitting
    (tmp_path / "data" / "train.jsonl").write_text("")
    assert prepare_data(_spec(tmp_path), tmp_path / "data").counts == prepared.counts


def test_preset_random_reactions_are_balanced_and_marked_as_proxies():
    from rejoinder.datasets.chatterbot import load_corpus

    pairs, _ = load_corpus()
    reactions = random_negative_reactions(pairs[:200], seed=1)
    assert sum(r.upvote for r in reactions) == 200 and len(reactions) == 400
    assert all(r.response != p.response for r, p in zip(reactions[1::2], pairs[:200]))
    assert {r.source for r in reactions} == {"proxy:random-negatives"}


def test_bad_training_file_fails_with_file_and_line(tmp_path):
    data = tmp_path / "pairs.jsonl"
    data.write_text('{"context": ["hi"], "response": "hello"}\n{"context": "hi", "response": "x"}\n')
    spec = _spec(tmp_path, data={"preset": None, "train": str(data)})
    with pytest.raises(DataFormatError, match=r"pairs.jsonl:2: field 'context' must be a non-empty list"):
        prepare_data(spec, tmp_path / "out")
    assert not (tmp_path / "out" / "data.json").exists()
    missing = _spec(tmp_path, data={"preset": None, "train": str(tmp_path / "nope.jsonl")})
    with pytest.raises(FileNotFoundError, match="spec.data.train"):
        prepare_data(missing, tmp_path / "out")


def test_pretraining_reads_any_record_kind(tmp_path):
    data = tmp_path / "sessions.jsonl"
    data.write_text("".join(json.dumps({"turns": [f"hello {i}", f"hi {i}"], "feedback": "positive"}) + "\n" for i in range(40)))
    assert detect_kind(data) is RecordKind.sessions
    spec = _spec(tmp_path, task="pretraining", data={"preset": None, "train": str(data), "evalFraction": 0.3})
    prepared = prepare_data(spec, tmp_path / "out")
    assert prepared.kind is RecordKind.sessions and prepared.counts["eval"] > 0


def test_shards_split_rows_between_ranks_and_publish_atomically(tmp_path):
    features = {"ids": np.arange(20, dtype=np.int32).reshape(10, 2), "label": np.arange(10, dtype=np.float32)}
    written = shards.write_shards(tmp_path / "shards", features, 2, {"k": 1})
    again = shards.read_manifest(tmp_path / "shards")
    assert again.fingerprint == written.fingerprint and again.rows == [5, 5]
    r0, r1 = shards.load_rank(again, 0, 2), shards.load_rank(again, 1, 2)
    assert sorted(np.concatenate([r0["label"], r1["label"]]).tolist()) == list(range(10))
    assert set(r0["label"].tolist()).isdisjoint(r1["label"].tolist())
    assert shards.load_rank(again, 0, 1)["ids"].shape == (10, 2)  # one rank reads every shard
    with pytest.raises(ValueError, match="cannot fill"):
        shards.write_shards(tmp_path / "s2", {"ids": np.zeros((1, 2))}, 2, {})
    with pytest.raises(ValueError, match="differ in length"):
        shards.write_shards(tmp_path / "s3", {"a": np.zeros(3), "b": np.zeros(4)}, 1, {})
