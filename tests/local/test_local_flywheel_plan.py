"""The feedback loop's plan (pure): what the file must say, the retrained reranker's spec, and the
canary judged exactly as `decide` judges the logged counts."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from rejoinder.api import parse_dialog_model
from rejoinder.feedback.canary import CanaryPolicy, Outcome, VersionCounts, decide
from rejoinder.feedback.records import ReactionKind, ReactionRecord, ServedBy
from rejoinder.local.flywheel_plan import (
    ANNOTATION, LoopError, LoopSettings, canary_counts, judge, keep_judging, loop_of, retrained, settled, winner,
)

T0 = datetime(2026, 12, 2, 4, 0, 0, tzinfo=timezone.utc)


def _docs(annotation: str | None = '{"collectSessions": 40, "minReactions": 30, "seed": 3}', canary: bool = True):
    retrieval = {"task": "retrieval", "data": {"preset": "chatterbot"}, "serving": {"reranker": "rr"}}
    if canary:
        retrieval["rollout"] = {"canary": {"trafficPercent": 50, "minReactions": 10, "maxDurationSeconds": 600}}
    meta = {"name": "chat", **({"annotations": {ANNOTATION: annotation}} if annotation is not None else {})}
    reranker = {"task": "reranking", "data": {"preset": "chatterbot", "negativesFrom": "chat"},
                "serving": {"enabled": False}}
    return [parse_dialog_model({"apiVersion": "rejoinder.dev/v1alpha1", "kind": "DialogModel", "metadata": m, "spec": s})
            for m, s in ((meta, retrieval), ({"name": "rr"}, reranker))]


def test_the_loop_is_what_the_annotation_and_rollout_canary_ask_for():
    models = _docs()
    loop = loop_of(models, models[0])
    assert loop is not None and loop.reranker.metadata.name == "rr" and loop.canary_share == 0.5
    assert loop.settings == LoopSettings(collect_sessions=40, min_reactions=30, seed=3)
    assert loop.policy == CanaryPolicy(min_reactions=10, max_regression=0.0, confidence=0.95, max_duration_seconds=600)
    assert loop_of(_docs(annotation=None), _docs(annotation=None)[0]) is None  # plain `up`


@pytest.mark.parametrize("annotation, message", [
    ("not json", "not JSON"),
    ('{"collect": 4}', "unknown keys"),
    ('{"seed": -1}', "positive integer"),
    ('{"judgeRound": true}', "positive integer"),
    ('{"collectSessions": 10, "minReactions": 20}', "more than"),
])
def test_a_bad_annotation_is_refused_with_the_reason(annotation, message):
    models = _docs(annotation)
    with pytest.raises(LoopError, match=message):
        loop_of(models, models[0])


def test_the_loop_needs_a_canary_and_its_reranker_in_the_file():
    models = _docs(canary=False)
    with pytest.raises(LoopError, match="rollout.canary"):
        loop_of(models, models[0])
    with pytest.raises(LoopError, match="same file"):
        loop_of(models[:1], _docs()[0])


def test_the_retrained_reranker_is_its_spec_plus_reactions_from():
    models = _docs()
    wire = retrained(models[1], "chat", T0, 30)
    assert wire["spec"]["data"]["reactionsFrom"] == {"dialogModel": "chat", "until": "2026-12-02T04:00:00Z",
                                                      "minReactions": 30}
    original = models[1].to_wire()
    del wire["spec"]["data"]["reactionsFrom"]
    assert wire == original  # nothing else changed
    assert "reactionsFrom" not in json.dumps(models[1].to_wire())  # the file's model is left alone


def rec(n: int, version: str, up: bool, seconds: int) -> ReactionRecord:
    model, _, reranker = version.partition("+")
    return ReactionRecord(f"id-{n}", ReactionKind.upvote if up else ReactionKind.downvote, ("hi",), "hello",
                          ServedBy(model, "", reranker, "pod"), T0 + timedelta(seconds=seconds), session_id=f"sim-0-{n}")


def test_canary_counts_are_the_versions_reactions_since_the_canary_started_each_once():
    log = [rec(0, "m+old", True, -5),  # collected before the canary: not judged
           rec(1, "m+old", True, 1), rec(2, "m+old", False, 2), rec(3, "m+new", True, 3), rec(3, "m+new", True, 4),
           rec(4, "m+other", True, 5)]
    assert canary_counts(log, "m+old", "m+new", T0) == (VersionCounts(1, 1), VersionCounts(1, 0))


def test_the_decision_is_exactly_decide_on_the_logged_counts():
    policy = CanaryPolicy(min_reactions=10, confidence=0.95, max_duration_seconds=600)
    log = [rec(i, "m+old", i % 4 == 0, 1) for i in range(40)] + [rec(100 + i, "m+new", i % 4 != 0, 2) for i in range(40)]
    decision, s, n = judge(log, "m+old", "m+new", T0, policy, 30.0)
    assert (s, n) == (VersionCounts(10, 30), VersionCounts(30, 10))
    assert decision == decide(s, n, policy, 30.0) and decision.outcome is Outcome.promoted and winner(decision) == "canary"
    worse, _, _ = judge(log, "m+new", "m+old", T0, policy, 30.0)  # the same counts the other way round
    assert worse.outcome is Outcome.rolled_back and winner(worse) == "stable"
    few, _, _ = judge(log[:5], "m+old", "m+new", T0, policy, 30.0)
    assert few.outcome is Outcome.observing and keep_judging(few, 100, LoopSettings())
    assert not keep_judging(few, 20_000, LoopSettings())  # the traffic bound
    ended = settled(few, 20_000)
    assert ended.outcome is Outcome.kept_stable and "20000 simulated sessions" in ended.message and winner(ended) == "stable"
