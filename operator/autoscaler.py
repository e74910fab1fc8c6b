"""RPS autoscaling decisions: a pure function of a request-rate time series.

replicas = ceil(RPS / target per replica), clamped to [min, max]. Scaling up happens at once;
scaling down only to the highest recommendation of the whole stabilisation window, and only once
the series covers that window (as the HPA does), so a short dip never removes capacity.
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
class Decision:
    replicas: int
    reason: str  # ScaleUp, ScaleDown, Stabilizing, Steady, Clamped, NoData


def recommend(rps: float, target_per_replica: float, low: int, high: int) -> int:
    return min(max(math.ceil(max(rps, 0.0) / target_per_replica - 1e-9), low), high)


def decide(samples: Sequence[Sample], current: int, *, min_replicas: int, max_replicas: int,
           target_per_replica: float, stabilization_seconds: float, now: float) -> Decision:
    low, high = max(1, min_replicas), max(1, max_replicas)
    if current < low or current > high:
        return Decision(min(max(current, low), high), "Clamped")
    if not samples:
        return Decision(current, "NoData")
    wanted_now = recommend(samples[-1].rps, target_per_replica, low, high)
    if wanted_now > current:
        return Decision(wanted_now, "ScaleUp")
    if wanted_now == current:
        return Decision(current, "Steady")
    window_start = now - stabilization_seconds
    if samples[0].at > window_start:  # not enough history to know the load stayed low
        return Decision(current, "Stabilizing")
    in_window = [s for s in samples if s.at >= window_start]
    highest = max(recommend(s.rps, target_per_replica, low, high) for s in in_window or samples[-1:])
    if highest < current:
        return Decision(highest, "ScaleDown")
    return Decision(current, "Stabilizing")


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
