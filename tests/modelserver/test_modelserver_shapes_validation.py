"""Fixed batch shapes and the request checks / truncation rule (pure functions)."""

from __future__ import annotations

import pytest

from rejoinder.modelserver import validation as v
from rejoinder.models.shapes import batch_sizes_up_to as batch_shapes
from rejoinder.models.shapes import smallest_holding as shape_for


def test_batch_shapes_are_powers_of_two_up_to_the_maximum():
    assert batch_shapes(32) == (1, 2, 4, 8, 16, 32)
    assert batch_shapes(6) == (1, 2, 4, 6)
    assert batch_shapes(1) == (1,)
    assert shape_for(5, batch_shapes(32)) == 8
    with pytest.raises(ValueError):
        shape_for(33, batch_shapes(32))


LIMITS = v.Limits(max_context_turns=2, max_candidates=3, default_top_k=20, max_top_k=50, max_turn_chars=10)


def test_context_keeps_last_turns_and_last_characters():
    assert v.context_turns(["a", "b", "c"], LIMITS) == ["b", "c"]
    assert v.context_turns(["0123456789abc"], LIMITS) == ["3456789abc"]


def test_a_long_history_keeps_its_most_recent_turns_instead_of_being_refused():
    history = [f"turn {i}" for i in range(1000)]
    assert v.context_turns(history, LIMITS) == ["turn 998", "turn 999"]
    # a dropped empty turn is no error; a kept one is, named by its index in the request
    assert v.context_turns(["", "b", "c"], LIMITS) == ["b", "c"]
    with pytest.raises(v.InvalidRequest, match=r"context\[2\] is empty"):
        v.context_turns(["a", "b", " ", "d"], LIMITS)


def test_responses_keep_their_first_characters():
    assert v.responses(["0123456789abc"], LIMITS) == ["0123456789"]


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: v.context_turns([], LIMITS), "context is empty"),
        (lambda: v.context_turns(["ok", "  "], LIMITS), r"context\[1\] is empty"),
        (lambda: v.session_turns([], LIMITS), "turns is empty"),
        (lambda: v.responses([], LIMITS), "responses is empty"),
        (lambda: v.responses(["a"] * 4, LIMITS), "4 candidates; at most 3"),
        (lambda: v.responses(["a", ""], LIMITS), r"responses\[1\] is empty"),
        (lambda: v.top_k(51, LIMITS), "top_k 51 is out of range"),
    ],
)
def test_bad_input_is_named(call, message):
    with pytest.raises(v.InvalidRequest, match=message):
        call()


def test_top_k_zero_means_default_capped_by_maximum():
    assert v.top_k(0, LIMITS) == 20
    assert v.top_k(0, v.Limits(default_top_k=20, max_top_k=7)) == 7
    assert v.top_k(50, LIMITS) == 50
