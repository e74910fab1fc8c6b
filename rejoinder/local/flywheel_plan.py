"""The feedback loop on one machine, as `rejoinder up` runs it (docs/feedback.md). Pure.

A served retrieval model with `rollout.canary`, a reranker (serving.reranker, trained in the same
file) and the annotation `local.rejoinder.dev/simulated-users` runs, in this order (`STEPS`):

    serve-stable   the model with the file's reranker (its proxy-trained version), pinned
    collect        SIMULATED users (rejoinder simulate-users) on the `collect` half of the
                   held-out contexts, against the stable server, for `collectSessions` sessions
    retrain        the reranker again, as a new version: its spec plus data.reactionsFrom
                   {dialogModel: <served>, until: <after the last collected reaction>, minReactions}
    serve-canary   a second server on another port with the new reranker version pinned
    judge          simulated users on the `judge` half, each session to the canary with
                   probability trafficPercent/100, in rounds of `judgeRound` sessions; after each
                   round `decide` (rejoinder.feedback.canary, the operator's rule) on the counts
                   the log holds per served version since the canary started, until it is final
    finish         promoted: the canary serves on, the stable server stops; otherwise the canary stops
    report         `rejoinder report`: the table and the PNG of the ratios per version
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Iterable, Sequence

from ..api import DialogModel
from ..feedback.canary import CanaryDecision, CanaryPolicy, Outcome, VersionCounts, decide
from ..feedback.records import ReactionRecord
from ..feedback.report import from_time, unique

ANNOTATION = "local.rejoinder.dev/simulated-users"
STEPS = ("serve-stable", "collect", "retrain", "serve-canary", "judge", "finish", "report")


class LoopError(ValueError):
    """The file asks for the loop but cannot run it; the message says what to change."""


@dataclass(frozen=True)
class LoopSettings:
    """The simulated users' part (annotation JSON, camelCase keys); the canary's is rollout.canary."""

    collect_sessions: int = 400
    min_reactions: int = 300  # data.reactionsFrom.minReactions of the retrained reranker
    judge_round: int = 100
    max_judge_sessions: int = 20_000  # a bound on simulated traffic whatever the deadline
    seed: int = 0
    concurrency: int = 4

    _KEYS = {"collectSessions": "collect_sessions", "minReactions": "min_reactions", "judgeRound": "judge_round",
             "maxJudgeSessions": "max_judge_sessions", "seed": "seed", "concurrency": "concurrency"}

    @classmethod
    def parse(cls, text: str) -> "LoopSettings":
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            raise LoopError(f"annotation {ANNOTATION} is not JSON: {exc}") from exc
        if not isinstance(obj, dict):
            raise LoopError(f"annotation {ANNOTATION} must be a JSON object")
        unknown = sorted(set(obj) - set(cls._KEYS))
        if unknown:
            raise LoopError(f"annotation {ANNOTATION}: unknown keys {unknown} (known: {sorted(cls._KEYS)})")
        values = {cls._KEYS[k]: v for k, v in obj.items()}
        for key, value in values.items():
            if not isinstance(value, int) or isinstance(value, bool) or value < (0 if key == "seed" else 1):
                raise LoopError(f"annotation {ANNOTATION}: {key} must be a positive integer, got {value!r}")
        settings = cls(**values)
        if settings.min_reactions > settings.collect_sessions:
            raise LoopError(f"annotation {ANNOTATION}: minReactions {settings.min_reactions} is more than "
                            f"collectSessions {settings.collect_sessions} can give")
        return settings


@dataclass(frozen=True)
class Loop:
    served: DialogModel
    reranker: DialogModel
    settings: LoopSettings

    @property
    def policy(self) -> CanaryPolicy:
        return CanaryPolicy.from_spec(self.served.spec.rollout.canary)

    @property
    def canary_share(self) -> float:
        return self.served.spec.rollout.canary.traffic_percent / 100  # type: ignore[union-attr]


def loop_of(models: Sequence[DialogModel], served: DialogModel | None) -> Loop | None:
    """The loop the file asks for, or None (plain `up`); LoopError when it asks for it incompletely."""
    if served is None or ANNOTATION not in served.metadata.annotations:
        return None
    settings = LoopSettings.parse(served.metadata.annotations[ANNOTATION])
    spec = served.spec
    if spec.rollout.canary is None:
        raise LoopError(f"{served.metadata.name}: simulated users judge a canary: set spec.rollout.canary")
    name = spec.serving.reranker
    reranker = next((m for m in models if m.metadata.name == name), None)
    if reranker is None:
        raise LoopError(f"{served.metadata.name}: the loop retrains serving.reranker, and it must be in the same "
                        f"file (serving.reranker is {name!r})")
    return Loop(served, reranker, settings)


def retrained(reranker: DialogModel, served: str, until: datetime, min_reactions: int) -> dict[str, Any]:
    """The reranker's wire document with data.reactionsFrom: the same spec, trained on the users'
    reactions to `served` before `until` as well (mixed with its proxy preset when it has one)."""
    wire = reranker.to_wire()
    wire["spec"]["data"]["reactionsFrom"] = {"dialogModel": served, "until": until.strftime("%Y-%m-%dT%H:%M:%SZ"),
                                             "minReactions": min_reactions}
    return wire


def canary_counts(records: Iterable[ReactionRecord], stable: str, new: str,
                  since: datetime) -> tuple[VersionCounts, VersionCounts]:
    """(stable, new) upvote counts of the served versions from `since` on, each reaction once."""
    counts = {stable: [0, 0], new: [0, 0]}
    for r in from_time(unique(records), since):
        if r.served_by.version in counts:
            counts[r.served_by.version][0 if r.upvote else 1] += 1
    return VersionCounts(*counts[stable]), VersionCounts(*counts[new])


def judge(records: Iterable[ReactionRecord], stable: str, new: str, since: datetime, policy: CanaryPolicy,
          elapsed_seconds: float) -> tuple[CanaryDecision, VersionCounts, VersionCounts]:
    """The canary's decision on the logged counts: exactly `decide`, as the operator takes it."""
    s, n = canary_counts(records, stable, new, since)
    return decide(s, n, policy, elapsed_seconds), s, n


def keep_judging(decision: CanaryDecision, sessions_sent: int, settings: LoopSettings) -> bool:
    """Another round of simulated traffic? Not once decided, nor past the traffic bound."""
    return not decision.final and sessions_sent < settings.max_judge_sessions


def settled(decision: CanaryDecision, sessions_sent: int) -> CanaryDecision:
    """The decision the loop ends with: undecided at the traffic bound, the stable version stays."""
    if decision.final:
        return decision
    return CanaryDecision(Outcome.kept_stable, decision.reason,
                          f"still undecided after {sessions_sent} simulated sessions (maxJudgeSessions), keeping the "
                          f"stable version: {decision.message}", decision.difference, decision.lower, decision.upper)


def winner(decision: CanaryDecision) -> str:
    """Which server serves on: the canary only when promoted."""
    return "canary" if decision.outcome is Outcome.promoted else "stable"


def status_message(decision: CanaryDecision, new: str) -> str:
    """The canary's state as one line of `rejoinder status` (the operator's status message)."""
    return f"canary {new}: {decision.outcome.value} ({decision.reason.value}): {decision.message}"
