"""Canary rollouts (rollout.canary): what the operator does with a new version, as pure functions.

A new model version does not replace the stable Deployment. It gets its own Deployment
(`<model>-canary`, pods labelled track=canary) beside the stable one; both are behind the model's
Service. Each reconcile reads the tracks' pods' `rejoinder_feedback_total` (canary_reading.py),
adds what each pod counted since its last reading, and asks rejoinder.feedback.canary.decide:

    Observing  → both serve, the canary's replicas follow the stable's (canary_replicas)
    Promoted   → the stable Deployment takes the new revision (a rolling update); the canary goes
    RolledBack → the canary goes and its revision is failed, as a rollout that missed its deadline
    KeptStable → the canary goes, the stable stays; status and an Event say why

Only a new *served version* is judged (the model version, plus the pinned reranker version with
serving.reranker: rejoinder.feedback.records.served_version): a revision of the same served version
(a serving or index change) rolls out as before, since both tracks would answer alike.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Mapping, Optional, Sequence

from rejoinder.api.spec import CanarySpec
from rejoinder.api.status import CanaryStatus, FeedbackCounts, PodFeedback
from rejoinder.feedback.canary import CanaryDecision, CanaryPolicy, Outcome, VersionCounts, decide
from rejoinder.pipeline.conditions import parse_rfc3339, rfc3339

from . import names

# Reasons of the CanaryJudged condition besides decide()'s (rejoinder.feedback.canary.Reason).
STARTING = "CanaryStarting"  # the canary Deployment has no available replica yet
NOT_READY = "ProgressDeadlineExceeded"  # ... and missed rollout.progressDeadlineSeconds: rolled back
FEEDBACK_UNKNOWN = "FeedbackUnknown"  # a ready pod's counters could not be read: no decision on a partial count


def canary_replicas(stable_replicas: int, traffic_percent: int) -> int:
    """Canary replicas whose share of all replicas is nearest `traffic_percent`, at least one.

    canary / (stable + canary) ≈ p  ⇔  canary ≈ stable · p / (100 − p), rounded half up. With few
    stable replicas the share is larger than asked (1 stable → 1 canary: 50 %): a pod is the unit."""
    stable = max(0, stable_replicas)
    return max(1, math.floor(stable * traffic_percent / (100 - traffic_percent) + 0.5))


@dataclass(frozen=True)
class Reading:
    """One pod's feedback counters at one scrape (summed over its version labels)."""

    upvotes: int
    downvotes: int
    restarts: int = 0  # the pod's containers' restartCount: a restart resets the counters


@dataclass(frozen=True)
class PodSeen:
    """A ready model-server pod this reconcile, and what reading its counters gave."""

    name: str
    track: str  # names.TRACK_STABLE or names.TRACK_CANARY
    created: Optional[datetime]
    reading: Optional[Reading]  # None: it did not answer (unknown, never zero)
    problem: str = ""


def track_of(labels: Mapping[str, str]) -> str:
    return names.TRACK_CANARY if labels.get(names.LABEL_TRACK) == names.TRACK_CANARY else names.TRACK_STABLE


def _added(previous: Optional[PodFeedback], now: Reading, counts_from_zero: bool) -> VersionCounts:
    """What a pod counted since its previous reading.

    First reading: all of it when the pod started after the canary did (its counters began at
    zero within the window), else nothing (it is the baseline: older reactions are not the
    canary's period). A restart, or a counter that went down, means counting began again at zero."""
    if previous is None:
        return VersionCounts(now.upvotes, now.downvotes) if counts_from_zero else VersionCounts(0, 0)
    if now.restarts != previous.restarts or now.upvotes < previous.upvotes or now.downvotes < previous.downvotes:
        return VersionCounts(now.upvotes, now.downvotes)
    return VersionCounts(now.upvotes - previous.upvotes, now.downvotes - previous.downvotes)


def _counts(c: FeedbackCounts) -> VersionCounts:
    return VersionCounts(c.upvotes, c.downvotes)


def _wire(c: VersionCounts) -> FeedbackCounts:
    return FeedbackCounts(upvotes=c.upvotes, downvotes=c.downvotes, ratio=None if c.ratio is None else round(c.ratio, 4))


@dataclass(frozen=True)
class Tally:
    stable: VersionCounts
    canary: VersionCounts
    pods: list[PodFeedback]
    unknown: list[str]  # "pod: problem" of ready pods that did not answer


def tally(old: CanaryStatus, seen: Sequence[PodSeen], existing: set[str]) -> Tally:
    """Add each answering pod's new reactions to its track's totals.

    A pod that did not answer keeps its last reading (what it counts meanwhile is added when it
    answers again) and is listed as unknown. Readings of pods that no longer exist are dropped;
    what they counted stays in the totals."""
    started = parse_rfc3339(old.started_at)
    totals = {names.TRACK_STABLE: _counts(old.stable), names.TRACK_CANARY: _counts(old.canary)}
    previous = {p.pod: p for p in old.pods}
    unknown = []
    for pod in seen:
        if pod.reading is None:
            unknown.append(f"{pod.name}: {pod.problem}" if pod.problem else pod.name)
            continue
        before = previous.get(pod.name)
        if before is not None and before.track != pod.track:
            before = None  # a name reused by the other track: a different pod
        fresh = pod.track == names.TRACK_CANARY or (pod.created is not None and started is not None and pod.created >= started)
        add = _added(before, pod.reading, fresh)
        t = totals[pod.track]
        totals[pod.track] = VersionCounts(t.upvotes + add.upvotes, t.downvotes + add.downvotes)
        previous[pod.name] = PodFeedback(pod=pod.name, track=pod.track, upvotes=pod.reading.upvotes,  # type: ignore[arg-type]
                                         downvotes=pod.reading.downvotes, restarts=pod.reading.restarts)
    pods = [p for name, p in sorted(previous.items()) if name in existing]
    return Tally(totals[names.TRACK_STABLE], totals[names.TRACK_CANARY], pods, sorted(unknown))


def summary(stable: VersionCounts, canary: VersionCounts) -> str:
    def one(c: VersionCounts) -> str:
        return f"{c.ratio:.2f} of {c.reactions}" if c.ratio is not None else "- of 0"
    return f"new {one(canary)} / stable {one(stable)}"


@dataclass(frozen=True)
class Step:
    """What the planner does about a canary this reconcile."""

    stable_revision: Optional[str]  # the revision the stable Deployment runs
    run_canary: bool = False  # a canary Deployment at the candidate revision is wanted
    status: Optional[CanaryStatus] = None  # status.canary (unchanged when no canary is concerned)
    condition: Optional[tuple[bool, str, str]] = None  # CanaryJudged (status, reason, message)
    failed: bool = False  # the candidate revision is failed (rolled back)
    events: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Situation:
    """The inputs of one canary step (all observed or from status; the planner gathers them)."""

    spec: Optional[CanarySpec]
    candidate: Optional[str]  # the current spec's revision, when trained, indexed, gated and not failed
    candidate_version: str
    stable_revision: Optional[str]  # what the stable Deployment runs now (None: no Deployment)
    stable_version: Optional[str]  # the version it serves
    settled: bool  # the stable Deployment runs its serving revision (no rollout under way)
    old: Optional[CanaryStatus]
    canary_available: bool  # the canary Deployment has an available replica
    seen: Sequence[PodSeen] = ()
    existing_pods: frozenset[str] = frozenset()
    progress_deadline_seconds: float = 600.0


def step(s: Situation, now: datetime) -> Step:
    """Decide the canary's part of a reconcile (see the module docstring)."""
    old = s.old
    if s.spec is None or s.candidate is None or s.candidate == s.stable_revision:
        # no canary wanted (or rollout.canary was removed: the candidate rolls out as before)
        return Step(stable_revision=s.candidate or s.stable_revision, status=_abandoned(old, now))
    if old is not None and old.revision == s.candidate and old.outcome != Outcome.observing.value:
        if old.outcome == Outcome.promoted.value:
            return Step(stable_revision=s.candidate, status=old)
        return Step(stable_revision=s.stable_revision, status=old)  # kept stable (a rolled-back one is failed)
    if s.stable_revision is None or s.stable_version is None or s.stable_version == s.candidate_version:
        return Step(stable_revision=s.candidate, status=old)  # nothing to compare with, or the same model
    if not s.settled:
        return Step(stable_revision=s.stable_revision, status=old)  # let the stable's rollout finish first
    if old is None or old.revision != s.candidate or old.outcome != Outcome.observing.value:
        status = CanaryStatus(revision=s.candidate, version=s.candidate_version, stable_revision=s.stable_revision,
                              stable_version=s.stable_version, started_at=rfc3339(now), reason=STARTING,
                              message=f"serving {s.candidate_version} beside {s.stable_version}",
                              summary=summary(VersionCounts(0, 0), VersionCounts(0, 0)))
        return Step(stable_revision=s.stable_revision, run_canary=True, status=status,
                    condition=(False, STARTING, f"canary {s.candidate_version} started beside {s.stable_version}"))
    return _judge(s, old, now)


def _judge(s: Situation, old: CanaryStatus, now: datetime) -> Step:
    started = parse_rfc3339(old.started_at)
    elapsed = (now - started).total_seconds() if started is not None else 0.0
    policy = CanaryPolicy.from_spec(s.spec)
    if not s.canary_available:
        if elapsed > s.progress_deadline_seconds:
            message = (f"canary {old.version} had no available replica after {s.progress_deadline_seconds:.0f} s: "
                       f"rolled back, {old.stable_version} stays")
            return _final(s, old, now, Outcome.rolled_back, NOT_READY, message, failed=True)
        return Step(stable_revision=s.stable_revision, run_canary=True, status=old,
                    condition=(False, STARTING, f"waiting for canary {old.version} to become available"))
    t = tally(old, s.seen, set(s.existing_pods))
    counted = old.model_copy(update={"stable": _wire(t.stable), "canary": _wire(t.canary), "pods": t.pods,
                                     "summary": summary(t.stable, t.canary)})
    decision: CanaryDecision = decide(t.stable, t.canary, policy, elapsed)
    if t.unknown and decision.outcome in (Outcome.promoted, Outcome.rolled_back):
        # a lower bound of one track's counts may not decide; the deadline still applies
        shown = "; ".join(t.unknown[:3])
        message = f"feedback counters of {len(t.unknown)} ready pods could not be read ({shown}); not judging on a partial count"
        counted = counted.model_copy(update={"reason": FEEDBACK_UNKNOWN, "message": message})
        return Step(stable_revision=s.stable_revision, run_canary=True, status=counted,
                    condition=(False, FEEDBACK_UNKNOWN, message))
    if not decision.final:
        counted = counted.model_copy(update={"reason": decision.reason.value, "message": decision.message})
        return Step(stable_revision=s.stable_revision, run_canary=True, status=counted,
                    condition=(False, decision.reason.value, decision.message))
    return _final(s, counted, now, decision.outcome, decision.reason.value, decision.message,
                  failed=decision.outcome is Outcome.rolled_back)


def _final(s: Situation, status: CanaryStatus, now: datetime, outcome: Outcome, reason: str, message: str,
           failed: bool = False) -> Step:
    done = status.model_copy(update={"outcome": outcome.value, "reason": reason, "message": message,
                                     "finished_at": rfc3339(now)})
    stable = s.candidate if outcome is Outcome.promoted else s.stable_revision
    return Step(stable_revision=stable, status=done, condition=(True, reason, message), failed=failed)


def _abandoned(old: Optional[CanaryStatus], now: datetime) -> Optional[CanaryStatus]:
    """A canary still observing whose candidate went away (spec changed back, canary removed)."""
    if old is None or old.outcome != Outcome.observing.value:
        return old
    return old.model_copy(update={"outcome": Outcome.kept_stable.value, "reason": "CanaryAbandoned", "finished_at": rfc3339(now),
                                  "message": f"the spec no longer asks for {old.version} as a canary: stopped"})
