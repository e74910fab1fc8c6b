"""The canary decision as a pure function: its three outcomes, the deadline and the edges."""

from __future__ import annotations

import random

import pytest

from rejoinder.api.spec import CanarySpec
from rejoinder.feedback.canary import (CanaryPolicy, Outcome, Reason, VersionCounts, decide,
                                       difference_interval)

POLICY = CanaryPolicy(min_reactions=200, max_regression=0.0, confidence=0.95, max_duration_seconds=3600)


def counts(ratio: float, n: int) -> VersionCounts:
    up = round(ratio * n)
    return VersionCounts(up, n - up)


def test_a_clearly_better_canary_is_promoted_and_a_clearly_worse_one_rolled_back():
    better = decide(counts(0.40, 400), counts(0.55, 400), POLICY, 60)
    assert (better.outcome, better.reason) == (Outcome.promoted, Reason.better) and better.final
    assert better.lower > 0 and "new 0.550 of 400, stable 0.400 of 400" in better.message
    worse = decide(counts(0.55, 400), counts(0.40, 400), POLICY, 60)
    assert (worse.outcome, worse.reason) == (Outcome.rolled_back, Reason.worse) and worse.upper < 0


def test_equal_ratios_keep_observing_then_keep_the_stable_version_at_the_deadline():
    assert decide(counts(0.5, 400), counts(0.5, 400), POLICY, 60).outcome is Outcome.observing
    at_deadline = decide(counts(0.5, 400), counts(0.5, 400), POLICY, 3600)
    assert (at_deadline.outcome, at_deadline.reason) == (Outcome.kept_stable, Reason.inconclusive)


def test_too_few_reactions_are_never_judged_however_lopsided():
    early = decide(counts(0.0, 199), counts(1.0, 400), POLICY, 60)
    assert (early.outcome, early.reason) == (Outcome.observing, Reason.collecting)
    late = decide(counts(0.0, 199), counts(1.0, 400), POLICY, 3600)
    assert (late.outcome, late.reason) == (Outcome.kept_stable, Reason.too_few)
    assert "stable version had fewer than 200 reactions" in late.message
    none = decide(VersionCounts(0, 0), VersionCounts(0, 0), POLICY, 3600)
    assert none.reason is Reason.too_few and "no reactions" in none.message
    assert decide(counts(0.0, 200), counts(1.0, 200), POLICY, 0).outcome is Outcome.promoted  # exactly enough


def test_a_tolerated_regression_promotes_a_slightly_worse_canary_and_still_rolls_back_a_bad_one():
    tolerant = CanaryPolicy(200, max_regression=0.05, confidence=0.95, max_duration_seconds=3600)
    assert decide(counts(0.50, 5000), counts(0.49, 5000), tolerant, 60).outcome is Outcome.promoted
    # without the tolerance the same 1-point drop is within noise at 5000 each: no decision yet
    assert decide(counts(0.50, 5000), counts(0.49, 5000), POLICY, 60).outcome is Outcome.observing
    assert decide(counts(0.50, 5000), counts(0.40, 5000), tolerant, 60).outcome is Outcome.rolled_back


def test_ratios_of_zero_and_one_give_a_finite_interval():
    d, lower, upper = difference_interval(VersionCounts(0, 200), VersionCounts(200, 0), 0.95)
    assert 0 < lower < d < upper <= 1.0
    d, lower, upper = difference_interval(VersionCounts(200, 0), VersionCounts(200, 0), 0.95)
    assert d == 0 and lower < 0 < upper


def test_counts_must_not_be_negative():
    with pytest.raises(ValueError):
        VersionCounts(-1, 3)
    assert VersionCounts(0, 0).ratio is None


def test_with_equal_true_ratios_a_single_look_promotes_or_rolls_back_at_most_about_its_error_rate():
    rng = random.Random(16)
    decided = 0
    trials = 2000
    for _ in range(trials):
        stable = sum(rng.random() < 0.45 for _ in range(300))
        new = sum(rng.random() < 0.45 for _ in range(300))
        outcome = decide(VersionCounts(stable, 300 - stable), VersionCounts(new, 300 - new), POLICY, 60).outcome
        decided += outcome is not Outcome.observing
    assert decided / trials < 0.13  # two one-sided 5% tails: ~10%, allowing for sampling error


def test_the_policy_is_read_from_the_api_spec():
    spec = CanarySpec(min_reactions=50, max_regression=0.01, confidence=0.9, max_duration_seconds=600)
    assert CanaryPolicy.from_spec(spec) == CanaryPolicy(50, 0.01, 0.9, 600.0)
