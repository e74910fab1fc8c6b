"""Proxy labels on the chatterbot preset: hard negatives mined from a retrieval model's export,
shuffled sessions; every record, data.json and the metrics say they are proxies."""

from __future__ import annotations

import json

import pytest

from rejoinder.api import parse_dialog_model
from rejoinder.text.formats import DialogPair, RecordKind, read_records
from rejoinder.training.data_prep import prepare_data
from rejoinder.training.hard_negatives import RankedList, RetrievalSource, _runtime, rank_contexts
from rejoinder.datasets.proxy import (
    HARD_NEGATIVES,
    SHUFFLED_SESSIONS,
    hard_negative_reactions,
    reply_balanced_reactions,
    shuffled_sessions,
)

from tests.training.training_support import tiny_model


def _spec(tmp_path, name="d", **spec):
    return parse_dialog_model(tiny_model(name, tmp_path, **spec)).spec


def test_hard_negatives_skip_every_known_reply_to_the_context():
    pairs = [DialogPair(("hi",), "hello"), DialogPair(("hi",), "hey there"), DialogPair(("bye",), "see you")]
    ranked = [["hey there", "see you", "hello", "what?", "no"], ["hello", "what?"], ["see you", "hello"]]
    reactions = hard_negative_reactions(pairs, ranked, per_context=2)
    by_context = [(r.context, r.response, r.upvote) for r in reactions]
    assert by_context[:3] == [(("hi",), "hello", True), (("hi",), "see you", False), (("hi",), "what?", False)]
    # "hello" is a known reply to "hi" (another pair), so it is never a downvote for it
    assert (("hi",), "hello", False) not in by_context
    assert by_context[-2:] == [(("bye",), "see you", True), (("bye",), "hello", False)]
    held_out = hard_negative_reactions(pairs[2:], ranked[2:], per_context=2, never=frozenset({"hello"}))
    assert [r.response for r in held_out] == ["see you"]
    assert {r.source for r in reactions} == {HARD_NEGATIVES}
    with pytest.raises(ValueError, match="3 pairs but 1 rankings"):
        hard_negative_reactions(pairs, ranked[:1], per_context=1)


def test_reply_balanced_training_downvotes_each_reply_with_the_contexts_it_is_confused_for():
    pairs = [DialogPair(("hi",), "hello"), DialogPair(("yo",), "hey"), DialogPair(("bye",), "see you"),
             DialogPair(("ciao",), "later")]
    ranked = [["hey", "see you", "hello"], ["hello", "hey"], ["hello", "later", "see you"], ["see you", "later"]]
    reactions = reply_balanced_reactions(pairs, ranked, per_reply=2, never=frozenset({"later"}), seed=0)
    for pair in pairs:
        mine = [r for r in reactions if r.response == pair.response]
        assert sum(r.upvote for r in mine) == 1 and sum(not r.upvote for r in mine) == 2
        assert all(r.context != pair.context for r in mine if not r.upvote)
    # "hello" is ranked first (wrongly) for "yo" and "bye": those are its downvotes
    assert {r.context for r in reactions if r.response == "hello" and not r.upvote} == {("yo",), ("bye",)}
    # "hey" is confused only for "hi"; a random other context fills the second downvote
    hey = [r.context for r in reactions if r.response == "hey" and not r.upvote]
    assert hey[0] == ("hi",) and hey[1] in {("bye",), ("ciao",)}
    assert {r.source for r in reactions} == {HARD_NEGATIVES}


def test_shuffled_sessions_keep_the_turns_and_make_one_negative_per_conversation():
    convs = [["a", "b", "c", "d"], ["e", "f"], ["g", "h", "i"], ["j", "k"]]
    sessions = shuffled_sessions(convs, seed=3)
    positives = [s for s in sessions if s.positive]
    negatives = [s for s in sessions if not s.positive]
    assert [list(s.turns) for s in positives] == convs and len(negatives) == len(convs)
    all_turns = {t for c in convs for t in c}
    for negative in negatives:
        assert list(negative.turns) not in convs and set(negative.turns) <= all_turns
    assert {s.source for s in sessions} == {SHUFFLED_SESSIONS}


def test_session_preset_holds_out_whole_conversations_and_marks_proxy_labels(tmp_path):
    prepared = prepare_data(_spec(tmp_path, task="session-scoring"), tmp_path / "data")
    assert prepared.kind is RecordKind.sessions and prepared.labels["proxy"] is True
    train, held = prepared.train(), prepared.eval()
    assert 0.4 < sum(s.positive for s in held) / len(held) < 0.6
    held_positive = {s.turns for s in held if s.positive}
    assert held_positive.isdisjoint({s.turns for s in train if s.positive})
    manifest = json.loads((tmp_path / "data" / "data.json").read_text())
    assert manifest["labels"]["source"] == SHUFFLED_SESSIONS and "not user feedback" in manifest["labels"]["description"]


def test_reranking_preset_mines_the_retrieval_models_hard_negatives_in_its_own_split(tmp_path):
    from rejoinder.models.bundle import create_random_bundle

    # A retrieval "model": its prepared data and an (untrained) export beside it, as train leaves them.
    retrieval_spec = _spec(tmp_path, name="retriever")
    version_dir = tmp_path / "retriever-version"
    retrieval_data = prepare_data(retrieval_spec, version_dir / "data")
    create_random_bundle(retrieval_spec, version_dir / "export", seed=1)

    spec = _spec(tmp_path, name="reranker", task="reranking",
                 data={"preset": "chatterbot", "negativesFrom": "retriever", "negativesPerContext": 2})
    asked = []
    prepared = prepare_data(spec, tmp_path / "rerank-data", lambda name: asked.append(name) or version_dir / "export")
    assert asked == ["retriever"]
    assert prepared.labels["proxy"] is True and prepared.labels["negativesFrom"] == "retriever"
    assert prepared.labels["topK"] == 20 and prepared.labels["negativesPerContext"] == 2
    train, held = prepared.train(), prepared.eval()
    # the reranker's held-out contexts are exactly the retrieval model's held-out contexts
    assert {r.context for r in held} == {p.context for p in retrieval_data.eval()}
    assert {r.context for r in train} == {p.context for p in retrieval_data.train()}
    upvotes = [r for r in held if r.upvote]
    assert len(upvotes) == retrieval_data.counts["eval"] and len(held) - len(upvotes) == 2 * len(upvotes)
    assert sum(not r.upvote for r in train) == 2 * sum(r.upvote for r in train)  # reply-balanced
    # every downvote is among that context's top 20 by the retrieval model itself
    source = RetrievalSource.from_export(version_dir / "export")
    first = upvotes[0]
    top, scores = rank_contexts(_runtime(source), [first.context], 20)[0]
    assert {r.response for r in held if r.context == first.context and not r.upvote} <= set(top)
    assert scores == sorted(scores, reverse=True) and not set(top) & set(first.context), "served order, no echoes"
    # and the held-out lists Respond is judged on: the same top 20 for every held-out context
    lists = [RankedList.from_json(r) for r in prepared.lists("eval")]
    assert {r.context for r in lists} == {p.context for p in retrieval_data.eval()}
    mine_first = next(r for r in lists if r.context == first.context)
    assert mine_first.candidates == top and len(mine_first.candidates) == 20
    assert prepared.lists("test") is None, "chatterbot has no test split"
    assert {r.source for r in read_records(tmp_path / "rerank-data" / "eval.jsonl", "reactions")} == {HARD_NEGATIVES}
    # no held-out reply is a training downvote
    held_replies = {p.response for p in retrieval_data.eval()} - {p.response for p in retrieval_data.train()}
    assert not {r.response for r in train if not r.upvote} & held_replies


def test_negatives_from_is_refused_without_a_preset_or_outside_reranking(tmp_path):
    from rejoinder.api import InvalidDialogModel

    with pytest.raises(InvalidDialogModel, match="negativesFrom"):
        parse_dialog_model(tiny_model("x", tmp_path, task="retrieval", data={"negativesFrom": "r"}))
    with pytest.raises(InvalidDialogModel, match="negativesFrom"):
        parse_dialog_model(tiny_model("x", tmp_path, task="reranking",
                                      data={"preset": None, "train": "r.jsonl", "negativesFrom": "r"}))
