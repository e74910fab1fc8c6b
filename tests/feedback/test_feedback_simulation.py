"""The simulated user: the stated paraphrase rule, seeded visits, labelled sessions, fixed halves."""

from __future__ import annotations

import pytest

from rejoinder.feedback.records import ReactionKind
from rejoinder.feedback.simulation import (
    PARAPHRASE_JACCARD, Arm, Half, HeldOut, group_held_out, half_of, is_match, is_simulated, jaccard, normalize,
    react, session_id, visits,
)


def test_normalized_equal_text_is_a_match():
    assert normalize("  Hello,   WORLD!! ") == "hello world"
    assert is_match("I'm fine.", "i m fine")
    assert is_match("Yes", "yes!")


def test_a_close_paraphrase_matches_by_token_jaccard_and_a_loose_one_does_not():
    truth = "I like to read books about history"
    close = "I like to read books on history"  # 6 of 8 words shared: 0.75
    loose = "I like pizza"  # 2 of 8
    assert jaccard(close, truth) == pytest.approx(6 / 8) and is_match(close, truth)
    assert jaccard(loose, truth) == pytest.approx(2 / 8) and not is_match(loose, truth)


def test_the_threshold_is_inclusive_and_stated():
    assert PARAPHRASE_JACCARD == 0.6
    a, b = "a b c", "a b c d e"  # 3/5 = 0.6 exactly
    assert is_match(a, b) and not is_match(a, b, threshold=0.61)


def test_empty_or_punctuation_only_answers_never_match():
    assert not is_match("", "") and not is_match("?!", "...")


def test_react_upvotes_when_any_true_response_matches():
    assert react("Fine, thanks.", ["Not bad", "fine thanks"]) is ReactionKind.upvote
    assert react("Goodbye", ["Not bad", "fine thanks"]) is ReactionKind.downvote


def test_held_out_pairs_group_by_context_and_split_into_two_fixed_halves():
    pairs = [((f"ctx {i}",), f"reply {i}") for i in range(200)] + [(("ctx 0",), "another reply"), (("ctx 0",), "reply 0")]
    grouped = group_held_out(pairs)
    assert len(grouped) == 200 and grouped[0] == HeldOut(("ctx 0",), ("reply 0", "another reply"))
    collect, judge = group_held_out(pairs, Half.collect), group_held_out(pairs, Half.judge)
    assert {h.context for h in collect}.isdisjoint({h.context for h in judge})
    assert len(collect) + len(judge) == 200 and 70 < len(collect) < 130  # about half each
    assert all(half_of(h.context) is Half.collect for h in collect)


def test_visits_are_seeded_labelled_and_split_by_the_share():
    held = [HeldOut((f"c{i}",), (f"r{i}",)) for i in range(30)]
    first = visits(held, 1000, seed=7, canary_share=0.3)
    assert first == visits(held, 1000, seed=7, canary_share=0.3)  # deterministic
    assert first != visits(held, 1000, seed=8, canary_share=0.3)
    assert [v.session_id for v in first[:2]] == ["sim-7-0", "sim-7-1"] and all(is_simulated(v.session_id) for v in first)
    share = sum(v.arm is Arm.canary for v in first) / len(first)
    assert 0.25 < share < 0.35
    assert all(v.arm is Arm.stable for v in visits(held, 100, seed=7))
    later = visits(held, 5, seed=7, start=1000)
    assert [v.number for v in later] == list(range(1000, 1005)) and later[0].session_id == session_id(7, 1000)


def test_visits_refuse_what_cannot_be_sent():
    with pytest.raises(ValueError, match="no held-out"):
        visits([], 1, seed=0)
    with pytest.raises(ValueError, match="share"):
        visits([HeldOut(("c",), ("r",))], 1, seed=0, canary_share=1.5)
