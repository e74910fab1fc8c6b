"""The canary decision: promote, roll back or keep observing, from upvote counts. Pure.

Test (stated, one-sided, at `confidence`): the difference of upvote ratios d = p_new - p_stable,
with the Agresti–Caffo interval (one success and one failure added to each version; well-behaved
at ratios of 0 or 1 and small counts, where the plain Wald interval collapses to zero width):

    promote   when the lower bound of d  > -max_regression   (new is no worse than tolerated)
    roll back when the upper bound of d  < -max_regression   (new is worse than tolerated)
    otherwise keep observing; at max_duration the stable version stays ("inconclusive")

Neither is judged before both versions have `min_reactions`; if they still have not at the
deadline, the stable version stays and the reason says so.

Looked at repeatedly (every reconcile), a fixed-level test is more likely to decide by chance
than its confidence says; `min_reactions` bounds how early the first look can be. A sequential
test (e.g. mSPRT) would remove that caveat: not done here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from statistics import NormalDist

from ..api.spec import CanarySpec


@dataclass(frozen=True)
class VersionCounts:
    upvotes: int
    downvotes: int

    def __post_init__(self) -> None:
        if self.upvotes < 0 or self.downvotes < 0:
            raise ValueError(f"counts must not be negative: {self}")

    @property
    def reactions(self) -> int:
        return self.upvotes + self.downvotes

    @property
    def ratio(self) -> float | None:
        """The upvote ratio; None with no reactions (0/0 is not a ratio of 0)."""
        return self.upvotes / self.reactions if self.reactions else None


@dataclass(frozen=True)
class CanaryPolicy:
    min_reactions: int = 200
    max_regression: float = 0.0
    confidence: float = 0.95
    max_duration_seconds: float = 86400.0

    @classmethod
    def from_spec(cls, spec: CanarySpec) -> "CanaryPolicy":
        """From the API's rollout.canary."""
        return cls(spec.min_reactions, spec.max_regression, spec.confidence, float(spec.max_duration_seconds))


class Outcome(StrEnum):
    observing = "Observing"  # keep both versions serving
    promoted = "Promoted"  # the new version becomes the stable one
    rolled_back = "RolledBack"  # the new version goes, the stable one stays
    kept_stable = "KeptStable"  # deadline passed undecided: the stable version stays


class Reason(StrEnum):
    """Condition reasons (CamelCase, as Kubernetes reasons are)."""

    collecting = "CollectingReactions"
    inconclusive_so_far = "NotYetSignificant"
    better = "CanaryNotWorse"
    worse = "CanaryWorse"
    too_few = "TooFewReactions"
    inconclusive = "Inconclusive"


@dataclass(frozen=True)
class CanaryDecision:
    outcome: Outcome
    reason: Reason
    message: str
    difference: float | None = None  # p_new - p_stable (Agresti–Caffo adjusted)
    lower: float | None = None
    upper: float | None = None

    @property
    def final(self) -> bool:
        return self.outcome is not Outcome.observing


def difference_interval(stable: VersionCounts, new: VersionCounts, confidence: float) -> tuple[float, float, float]:
    """(d, lower, upper): one-sided bounds at `confidence` each for d = p_new - p_stable."""
    p_s = (stable.upvotes + 1) / (stable.reactions + 2)
    p_n = (new.upvotes + 1) / (new.reactions + 2)
    se = math.sqrt(p_s * (1 - p_s) / (stable.reactions + 2) + p_n * (1 - p_n) / (new.reactions + 2))
    z = NormalDist().inv_cdf(confidence)
    d = p_n - p_s
    return d, max(-1.0, d - z * se), min(1.0, d + z * se)  # a difference of ratios lies in [-1, 1]


def _describe(stable: VersionCounts, new: VersionCounts) -> str:
    def one(c: VersionCounts) -> str:
        return f"{c.ratio:.3f} of {c.reactions}" if c.ratio is not None else "no reactions"
    return f"new {one(new)}, stable {one(stable)}"


def decide(stable: VersionCounts, new: VersionCounts, policy: CanaryPolicy, elapsed_seconds: float) -> CanaryDecision:
    """What to do with a canary `elapsed_seconds` after it started serving."""
    out_of_time = elapsed_seconds >= policy.max_duration_seconds
    few = [name for name, c in (("new", new), ("stable", stable)) if c.reactions < policy.min_reactions]
    if few:
        counts = _describe(stable, new)
        if out_of_time:
            return CanaryDecision(Outcome.kept_stable, Reason.too_few,
                                  f"{' and '.join(few)} version had fewer than {policy.min_reactions} reactions "
                                  f"after {policy.max_duration_seconds:.0f} s ({counts}): keeping the stable version")
        return CanaryDecision(Outcome.observing, Reason.collecting,
                              f"waiting for {policy.min_reactions} reactions per version ({counts})")
    d, lower, upper = difference_interval(stable, new, policy.confidence)
    margin = -policy.max_regression
    bounds = (f"{_describe(stable, new)}; difference {d:+.3f}, {policy.confidence:.0%} one-sided bounds "
              f"[{lower:+.3f}, {upper:+.3f}], tolerated {margin:+.3f}")
    if lower > margin:
        return CanaryDecision(Outcome.promoted, Reason.better, f"promoting: {bounds}", d, lower, upper)
    if upper < margin:
        return CanaryDecision(Outcome.rolled_back, Reason.worse, f"rolling back: {bounds}", d, lower, upper)
    if out_of_time:
        return CanaryDecision(Outcome.kept_stable, Reason.inconclusive,
                              f"no decision after {policy.max_duration_seconds:.0f} s, keeping the stable version: {bounds}",
                              d, lower, upper)
    return CanaryDecision(Outcome.observing, Reason.inconclusive_so_far, f"not yet significant: {bounds}", d, lower, upper)
