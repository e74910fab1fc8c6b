"""Load generator pieces that need no server."""

from __future__ import annotations

import pytest

from rejoinder.modelserver.loadgen import percentile, request_maker


def test_percentile_is_nearest_rank():
    values = list(range(1, 101))
    assert percentile(values, 50) == 50 and percentile(values, 99) == 99 and percentile(values, 100) == 100
    assert percentile([7.0], 99) == 7.0 and percentile([], 50) == 0.0


def test_request_maker_cycles_contexts():
    make = request_maker("Retrieve", [["a"], ["b", "c"]], top_k=3)
    assert list(make(1).context) == ["b", "c"] and make(2).context == ["a"] and make(0).top_k == 3
    with pytest.raises(ValueError):
        request_maker("Nope", [["a"]])(0)
