"""RPS autoscaling decisions: a pure function of a request-rate time series.

The HPA's algorithm with its default behaviour: replicas = ceil(RPS / target per replica),
clamped to [min, max], unless the load is within 10 % of what the current replicas are meant to
carry (no change). Scaling up is limited to max(double, +4 pods) per 15 s period; scaling down
goes only to the highest recommendation of the whole stabilisation window, and only once the
series covers that window, so a short dip never removes capacity. A reading known to be partial
(some pods' metrics missing) is a lower bound: it may scale up, never down.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Optional, Sequence


@dataclass(frozen=True)
class Sample:
    at: float  # seconds (monotonic or epoch, consistently)
    rps: float  # requests per second over all ready replicas


@dataclass(frozen=True)
class ScaleUp:
    at: float  # when replicas were added (same clock as the samples)
    added: int


@dataclass(frozen=True)
class Decision:
    replicas: int
    # ScaleUp, ScaleUpLimited, ScaleDown, Stabilizing, Steady, WithinTolerance, PartialMetrics, Clamped, NoData
    reason: str


# The HPA's defaults (kube-controller-manager and autoscaling/v2 `behavior`).
TOLERANCE = 0.1
SCALE_UP_PERIOD_SECONDS = 15.0
SCALE_UP_PODS = 4
SCALE_UP_PERCENT = 100


def recommend(rps: float, target_per_replica: float, low: int, high: int) -> int:
    return min(max(math.ceil(max(rps, 0.0) / target_per_replica - 1e-9), low), high)


def _wanted(rps: float, current: int, target_per_replica: float, low: int, high: int, tolerance: float) -> int:
    """The recommendation, or the current count when the load is within tolerance of it."""
    if current > 0 and abs(max(rps, 0.0) / (target_per_replica * current) - 1.0) <= tolerance:
        return current
    return recommend(rps, target_per_replica, low, high)


def scale_up_limit(current: int, scale_ups: Sequence[ScaleUp], now: float) -> int:
    """The most replicas allowed now: max(double, +4) of the count at the start of the period."""
    added = sum(e.added for e in scale_ups if e.at > now - SCALE_UP_PERIOD_SECONDS)
    start = max(current - added, 0)
    return max(start * (100 + SCALE_UP_PERCENT) // 100, start + SCALE_UP_PODS)


def decide(samples: Sequence[Sample], current: int, *, min_replicas: int, max_replicas: int,
           target_per_replica: float, stabilization_seconds: float, now: float,
           scale_ups: Sequence[ScaleUp] = (), partial: bool = False, tolerance: float = TOLERANCE) -> Decision:
    low, high = max(1, min_replicas), max(1, max_replicas)
    if current < low or current > high:
        return Decision(min(max(current, low), high), "Clamped")
    if not samples:
        return Decision(current, "NoData")

    def wanted(rps: float) -> int:
        return _wanted(rps, current, target_per_replica, low, high, tolerance)

    wanted_now = wanted(samples[-1].rps)
    if wanted_now > current:
        allowed = scale_up_limit(current, scale_ups, now)
        if wanted_now > allowed:
            return Decision(max(allowed, current), "ScaleUpLimited")
        return Decision(wanted_now, "ScaleUp")
    if partial:
        return Decision(current, "PartialMetrics")
    if wanted_now == current:
        return Decision(current, "WithinTolerance" if recommend(samples[-1].rps, target_per_replica, low, high) != current
                        else "Steady")
    window_start = now - stabilization_seconds
    if samples[0].at > window_start:  # not enough history to know the load stayed low
        return Decision(current, "Stabilizing")
    in_window = [s for s in samples if s.at >= window_start]
    highest = max(wanted(s.rps) for s in in_window or samples[-1:])
    if highest < current:
        return Decision(highest, "ScaleDown")
    return Decision(current, "Stabilizing")


def prune_scale_ups(scale_ups: Sequence[ScaleUp], now: float) -> list[ScaleUp]:
    return [e for e in scale_ups if e.at > now - SCALE_UP_PERIOD_SECONDS]


def prune(samples: Sequence[Sample], stabilization_seconds: float, now: float) -> list[Sample]:
    """Keep the window plus the newest sample before it (which proves the window is covered)."""
    window_start = now - stabilization_seconds
    inside = [s for s in samples if s.at >= window_start]
    before = [s for s in samples if s.at < window_start]
    return before[-1:] + inside


def counter_rate(previous: Mapping[str, tuple[float, float]], current: Mapping[str, tuple[float, float]]) -> Optional[float]:
    """Requests per second summed over pods, from two scrapes {pod: (time, counter total)}.

    Only pods present in both scrapes count (a pod that just became ready has no rate yet);
    a counter that went down means the pod restarted and counts from zero."""
    total, seen = 0.0, False
    for pod, (t1, c1) in current.items():
        if pod not in previous:
            continue
        t0, c0 = previous[pod]
        if t1 <= t0:
            continue
        delta = c1 - c0 if c1 >= c0 else c1
        total += delta / (t1 - t0)
        seen = True
    return total if seen else None
