"""rollout.canary's planning without Kubernetes: replica split, counting reactions per track
(baselines, restarts, unknown pods), and the planner's Deployments, Services and status for each
outcome. The statistical decision itself is tested in tests/feedback/test_feedback_canary.py."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from test_operator_planner import (
    NOW, SETTINGS, by_kind, cond, model, rolled_out, run_pipeline, serving_model, spec, stamped, state_after,
)

from rejoinder.api.status import CanaryStatus, DialogModelStatus, PodFeedback
from rejoinder.api.versioning import model_version
from rejoinder.operator import canary, names
from rejoinder.operator.canary import PodSeen, Reading, canary_replicas, tally
from rejoinder.operator.canary_reading import feedback_counts
from rejoinder.operator.planner import Observed, plan

STARTED = datetime(2026, 1, 1, 12, 0, 0, tzinfo=timezone.utc)
CANARY = {"canary": {"trafficPercent": 10, "minReactions": 50, "maxDurationSeconds": 3600}}


@pytest.mark.parametrize("stable,percent,expected", [
    (9, 10, 1), (18, 10, 2), (1, 10, 1), (0, 10, 1), (3, 25, 1), (6, 25, 2), (4, 50, 4), (27, 10, 3), (13, 10, 1),
])
def test_canary_replicas_share_is_nearest_the_traffic_percent_and_at_least_one(stable: int, percent: int, expected: int) -> None:
    assert canary_replicas(stable, percent) == expected


def observing(**fields: Any) -> CanaryStatus:
    base: dict[str, Any] = dict(revision="m-spec-2", version="v-2", stable_revision="m-spec-1", stable_version="v-1",
                                started_at="2026-01-01T12:00:00Z")
    base.update(fields)
    return CanaryStatus.model_validate(base)


def seen(name: str, track: str, up: int, down: int, restarts: int = 0, created: datetime | None = None) -> PodSeen:
    return PodSeen(name, track, created or STARTED - timedelta(hours=1), Reading(up, down, restarts))


def test_old_stable_pods_start_from_a_baseline_and_canary_pods_from_zero() -> None:
    t = tally(observing(), [seen("s1", "stable", 900, 100), seen("c1", "canary", 3, 1)], {"s1", "c1"})
    assert (t.stable.upvotes, t.stable.downvotes) == (0, 0)  # reactions before the canary are not its period
    assert (t.canary.upvotes, t.canary.downvotes) == (3, 1)
    later = tally(observing(pods=t.pods, canary={"upvotes": 3, "downvotes": 1}),
                  [seen("s1", "stable", 950, 110), seen("c1", "canary", 10, 2),
                   seen("s2", "stable", 7, 3, created=STARTED + timedelta(minutes=5))], {"s1", "s2", "c1"})
    assert (later.stable.upvotes, later.stable.downvotes) == (50 + 7, 10 + 3)  # s2 started after the canary: all of it
    assert (later.canary.upvotes, later.canary.downvotes) == (10, 2)


def test_a_restarted_pod_counts_from_zero() -> None:
    old = observing(pods=[PodFeedback(pod="c1", track="canary", upvotes=40, downvotes=10, restarts=0)],
                    canary={"upvotes": 40, "downvotes": 10})
    # the container restarted and already counted past its old value: restartCount tells
    t = tally(old, [seen("c1", "canary", 45, 12, restarts=1)], {"c1"})
    assert (t.canary.upvotes, t.canary.downvotes) == (85, 22)
    # no restartCount change seen, but a counter went down: a reset too
    t = tally(old, [seen("c1", "canary", 5, 20)], {"c1"})
    assert (t.canary.upvotes, t.canary.downvotes) == (45, 30)


def test_a_pod_that_does_not_answer_is_unknown_not_zero_and_gone_pods_keep_their_counts() -> None:
    old = observing(pods=[PodFeedback(pod="c1", track="canary", upvotes=40, downvotes=10),
                          PodFeedback(pod="c2", track="canary", upvotes=5, downvotes=5)],
                    canary={"upvotes": 45, "downvotes": 15})
    t = tally(old, [PodSeen("c1", "canary", STARTED, None, "http://x/metrics: refused")], {"c1"})
    assert t.unknown == ["c1: http://x/metrics: refused"]
    assert (t.canary.upvotes, t.canary.downvotes) == (45, 15)  # c2 is gone: what it counted stays
    assert [p.pod for p in t.pods] == ["c1"] and t.pods[0].upvotes == 40  # c1's last reading is kept
    # when it answers again, what it counted meanwhile is added
    t2 = tally(old.model_copy(update={"pods": t.pods}), [seen("c1", "canary", 60, 10)], {"c1"})
    assert t2.canary.upvotes == 65


def test_feedback_counts_sum_the_servers_exposition_over_versions() -> None:
    text = ("# TYPE rejoinder_feedback_total counter\n"
            'rejoinder_feedback_total{version="v-a",reaction="upvote"} 7\n'
            'rejoinder_feedback_total{version="v-a",reaction="downvote"} 2\n'
            'rejoinder_feedback_total{version="v-a+v-r",reaction="upvote"} 1\n'
            "# TYPE rejoinder_requests_total counter\n"
            'rejoinder_requests_total{method="Respond",code="OK"} 99\n')
    assert feedback_counts(text) == (8, 2)
    assert feedback_counts("") == (0, 0)


def situation(**fields: Any) -> canary.Situation:
    from rejoinder.api.spec import CanarySpec
    base: dict[str, Any] = dict(spec=CanarySpec.model_validate(CANARY["canary"]), candidate="m-spec-2", candidate_version="v-2",
                                stable_revision="m-spec-1", stable_version="v-1", settled=True, old=None,
                                canary_available=False)
    base.update(fields)
    return canary.Situation(**base)


def test_step_waits_for_the_stable_rollout_and_skips_a_revision_of_the_same_model() -> None:
    assert canary.step(situation(settled=False), NOW) == canary.Step(stable_revision="m-spec-1")
    same = canary.step(situation(candidate_version="v-1"), NOW)
    assert same.stable_revision == "m-spec-2" and not same.run_canary  # rolls out as before
    first = canary.step(situation(stable_revision=None, stable_version=None), NOW)
    assert first.stable_revision == "m-spec-2" and not first.run_canary  # nothing served to compare with
    off = canary.step(situation(spec=None), NOW)
    assert off.stable_revision == "m-spec-2" and not off.run_canary


def test_a_canary_never_available_is_rolled_back_at_the_progress_deadline() -> None:
    old = observing(revision="m-spec-2")
    waiting = canary.step(situation(old=old), STARTED + timedelta(seconds=599))
    assert waiting.run_canary and waiting.condition == (False, canary.STARTING, "waiting for canary v-2 to become available")
    late = canary.step(situation(old=old), STARTED + timedelta(seconds=601))
    assert late.failed and not late.run_canary and late.stable_revision == "m-spec-1"
    assert late.status is not None and late.status.outcome == "RolledBack" and late.status.reason == "ProgressDeadlineExceeded"


def test_unknown_pods_hold_a_decision_that_the_known_counts_would_make() -> None:
    old = observing(stable={"upvotes": 300, "downvotes": 700}, canary={"upvotes": 700, "downvotes": 300})
    s = situation(old=old, canary_available=True, seen=[PodSeen("c1", "canary", STARTED, None, "timeout")],
                  existing_pods=frozenset({"c1"}))
    held = canary.step(s, STARTED + timedelta(seconds=60))
    assert held.run_canary and held.status is not None and held.status.outcome == "Observing"
    assert held.condition is not None and held.condition[1] == canary.FEEDBACK_UNKNOWN
    known = canary.step(situation(old=old, canary_available=True), STARTED + timedelta(seconds=60))
    assert known.status is not None and known.status.outcome == "Promoted" and known.stable_revision == "m-spec-2"


# --- through the planner ------------------------------------------------------------------------------


def canary_started(traffic: int = 10) -> tuple[Any, DialogModelStatus, dict[str, Any], dict[str, Any]]:
    """v1 serving on 9 replicas; v2 (rollout.canary) trained and indexed: the canary's first plan."""
    rollout = {"canary": {**CANARY["canary"], "trafficPercent": traffic}}
    m1, st, obs = serving_model({"recall@5": 0.6}, rollout=rollout, serving={"maxReplicas": 20})
    dep_v1 = rolled_out(obs["deployment"], replicas=9)
    dep_v1["spec"]["replicas"] = 9
    m2 = model(spec(training={"steps": 200}, rollout=rollout, serving={"maxReplicas": 20}))
    st2, obs2 = run_pipeline(m2, st, {"jobs": dict(obs["jobs"]), "config_maps": obs["config_maps"]}, {"recall@5": 0.65},
                             serving_dep=dep_v1)
    obs2["deployment"] = dep_v1
    return m2, st2, obs2, obs


def test_a_new_version_gets_a_canary_deployment_beside_the_untouched_stable_one() -> None:
    m2, st, obs, _ = canary_started()
    p = obs["plan"]
    v1, v2 = st.serving_version, model_version(m2.spec)
    assert not by_kind(p.patch, "Deployment")  # the stable Deployment keeps v1
    [dep] = by_kind(p.create, "Deployment")
    assert dep["metadata"]["name"] == "m-canary" and dep["spec"]["replicas"] == 1  # 1 of 10 replicas: 10 %
    labels = dep["spec"]["template"]["metadata"]["labels"]
    assert labels[names.LABEL_TRACK] == "canary" and labels[names.LABEL_VERSION] == v2
    assert dep["spec"]["selector"]["matchLabels"] == {**names.selector("m", "server"), names.LABEL_TRACK: "canary"}
    assert v2 in dep["spec"]["template"]["spec"]["containers"][0]["command"]
    stable = obs["deployment"]
    assert stable["spec"]["template"]["metadata"]["labels"][names.LABEL_TRACK] == "stable"
    # the Service (and the headless one) select both tracks' pods
    svc_selector = names.selector("m", "server")
    assert set(svc_selector.items()) <= set(labels.items())
    assert set(svc_selector.items()) <= set(stable["spec"]["template"]["metadata"]["labels"].items())
    assert st.canary is not None and (st.canary.version, st.canary.stable_version, st.canary.outcome) == (v2, v1, "Observing")
    assert st.phase.value == "Serving" and f"canary {v2}" in st.message
    assert cond(p, "CanaryJudged")["status"] == "False" and cond(p, "CanaryJudged")["reason"] == "CanaryStarting"


def judged(up_stable: int, up_canary: int, n: int, elapsed: float):
    """The canary of canary_started() available, its pods having counted `n` reactions per track."""
    m2, st, obs, _ = canary_started()
    [dep] = by_kind(obs["plan"].create, "Deployment")
    canary_dep = rolled_out(stamped(dep))
    started = datetime.fromisoformat(st.canary.started_at.replace("Z", "+00:00"))  # type: ignore[union-attr]
    pods = [{"metadata": {"name": "m-canary-1", "labels": dep["spec"]["template"]["metadata"]["labels"]}},
            {"metadata": {"name": "m-server-1", "labels": obs["deployment"]["spec"]["template"]["metadata"]["labels"]}}]
    base = Observed(jobs=obs["jobs"], config_maps=obs["config_maps"], deployment=obs["deployment"],
                    canary_deployment=canary_dep, pods=pods)
    # first reading: the stable pod's older reactions are its baseline
    first = [PodSeen("m-canary-1", "canary", started, Reading(0, 0)), PodSeen("m-server-1", "stable", started - timedelta(hours=1), Reading(5000, 5000))]
    p = plan(m2, st, Observed(**{**base.__dict__, "feedback": first}), SETTINGS, started + timedelta(seconds=10))
    st = state_after(p)
    later = [PodSeen("m-canary-1", "canary", started, Reading(up_canary, n - up_canary)),
             PodSeen("m-server-1", "stable", started - timedelta(hours=1), Reading(5000 + up_stable, 5000 + n - up_stable))]
    p = plan(m2, st, Observed(**{**base.__dict__, "feedback": later}), SETTINGS, started + timedelta(seconds=elapsed))
    return m2, p, base, started


def test_promoted_the_stable_deployment_takes_the_new_revision_and_the_canary_goes() -> None:
    m2, p, base, _ = judged(up_stable=40, up_canary=70, n=100, elapsed=120)
    st = state_after(p)
    v2 = model_version(m2.spec)
    assert st.canary is not None and st.canary.outcome == "Promoted" and st.canary.reason == "CanaryNotWorse"
    assert (st.canary.canary.upvotes, st.canary.canary.downvotes, st.canary.canary.ratio) == (70, 30, 0.7)
    assert (st.canary.stable.upvotes, st.canary.stable.downvotes, st.canary.stable.ratio) == (40, 60, 0.4)
    assert st.canary.summary == "new 0.70 of 100 / stable 0.40 of 100"
    [stable] = by_kind(p.patch, "Deployment")
    assert stable["metadata"]["name"] == "m-server" and stable["metadata"]["annotations"][names.ANN_VERSION] == v2
    assert [r.name for r in p.delete if r.plural == "deployments"] == ["m-canary"]
    assert cond(p, "CanaryJudged")["status"] == "True"
    assert any(e.type == "CanaryJudged" and e.reason == "CanaryNotWorse" and "0.700 of 100" in e.message for e in p.events)


def test_rolled_back_the_canary_goes_and_its_revision_is_failed() -> None:
    m2, p, base, started = judged(up_stable=70, up_canary=40, n=100, elapsed=120)
    st = state_after(p)
    v2 = model_version(m2.spec)
    assert st.canary is not None and st.canary.outcome == "RolledBack" and st.canary.reason == "CanaryWorse"
    assert not by_kind(p.patch, "Deployment") and [r.name for r in p.delete if r.plural == "deployments"] == ["m-canary"]
    assert st.failed_version == v2 and st.failed_revision == st.canary.revision
    assert st.phase.value == "Degraded" and cond(p, "Degraded")["reason"] == "RolledBack"
    assert any(e.reason == "CanaryWorse" and e.warning for e in p.events)
    # and it is not tried again
    after = plan(m2, st, Observed(**{**base.__dict__, "canary_deployment": None}), SETTINGS, started + timedelta(seconds=130))
    assert not by_kind(after.create, "Deployment") and not by_kind(after.patch, "Deployment")
    assert state_after(after).canary == st.canary


def test_too_few_reactions_by_the_deadline_keeps_the_stable_version_and_says_why() -> None:
    m2, p, base, started = judged(up_stable=10, up_canary=12, n=20, elapsed=3601)
    st = state_after(p)
    assert st.canary is not None and st.canary.outcome == "KeptStable" and st.canary.reason == "TooFewReactions"
    assert "fewer than 50 reactions" in st.canary.message
    assert not by_kind(p.patch, "Deployment") and [r.name for r in p.delete if r.plural == "deployments"] == ["m-canary"]
    assert st.failed_revision is None and st.phase.value == "Serving"
    assert cond(p, "CanaryJudged")["reason"] == "TooFewReactions"
    # the same revision is not canaried again (a spec change makes a new one)
    after = plan(m2, st, Observed(**{**base.__dict__, "canary_deployment": None}), SETTINGS, started + timedelta(seconds=3700))
    assert not by_kind(after.create, "Deployment") and not by_kind(after.patch, "Deployment")


def test_still_observing_keeps_both_and_the_canary_follows_the_stable_replicas() -> None:
    m2, p, base, started = judged(up_stable=10, up_canary=12, n=20, elapsed=60)
    st = state_after(p)
    assert st.canary is not None and st.canary.outcome == "Observing" and st.canary.reason == "CollectingReactions"
    assert not p.delete and not by_kind(p.patch, "Deployment")
    grown = stamped(base.deployment)  # type: ignore[arg-type]
    grown["spec"]["replicas"] = 18  # the autoscaler scaled the stable track
    p = plan(m2, st, Observed(**{**base.__dict__, "deployment": grown}), SETTINGS, started + timedelta(seconds=70))
    [dep] = by_kind(p.patch, "Deployment")
    assert dep["metadata"]["name"] == "m-canary" and dep["spec"]["replicas"] == 2


def test_a_retrained_reranker_is_a_new_served_version_judged_as_a_canary() -> None:
    m, st, obs = serving_model({"recall@5": 0.6}, rollout=CANARY, serving={"reranker": "rr", "maxReplicas": 20})
    v1 = st.serving_version
    stable_command = obs["deployment"]["spec"]["template"]["spec"]["containers"][0]["command"]
    assert "--reranker-version" not in stable_command  # the reranker had no trained version yet
    # the reranking DialogModel finished training v-r2: same spec, a new revision pinning it
    p = plan(m, st, Observed(jobs=obs["jobs"], config_maps=obs["config_maps"], deployment=obs["deployment"],
                             reranker_version="v-r2"), SETTINGS, NOW)
    [cm] = [c for c in by_kind(p.create, "ConfigMap")]
    assert cm["data"]["reranker-version"] == "v-r2" and cm["metadata"]["name"] not in obs["config_maps"]
    assert not by_kind(p.patch, "Deployment")  # the stable keeps its reranker
    [dep] = by_kind(p.create, "Deployment")
    assert dep["metadata"]["name"] == "m-canary"
    assert dep["spec"]["template"]["spec"]["containers"][0]["command"][-2:] == ["--reranker-version", "v-r2"]
    st2 = state_after(p)
    assert st2.canary is not None and (st2.canary.version, st2.canary.stable_version) == (f"{v1}+v-r2", v1)
    # without rollout.canary the new reranker rolls out to the stable Deployment, as a new revision
    m_plain, st_plain, obs_plain = serving_model({"recall@5": 0.6}, serving={"reranker": "rr"})
    p = plan(m_plain, st_plain, Observed(jobs=obs_plain["jobs"], config_maps=obs_plain["config_maps"],
                                         deployment=obs_plain["deployment"], reranker_version="v-r2"), SETTINGS, NOW)
    [rolled] = by_kind(p.patch, "Deployment")
    assert rolled["metadata"]["name"] == "m-server"
    assert rolled["spec"]["template"]["spec"]["containers"][0]["command"][-2:] == ["--reranker-version", "v-r2"]
    assert state_after(p).phase.value == "RollingOut"
