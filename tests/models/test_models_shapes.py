"""The pure shape policy: sequence buckets, row lengths, bulk chunk plans."""

from __future__ import annotations

import numpy as np
import pytest

from rejoinder.models.shapes import (
    SequenceBuckets,
    batch_sizes_up_to,
    default_sequence_buckets,
    plan_chunks,
    row_lengths,
    trim,
)


def test_default_buckets_step_by_16_up_to_the_full_length():
    assert default_sequence_buckets(80) == (16, 32, 48, 64, 80)
    assert default_sequence_buckets(48) == (16, 32, 48)
    assert default_sequence_buckets(50) == (16, 32, 48, 50)
    assert default_sequence_buckets(10) == (10,)
    assert batch_sizes_up_to(32) == (1, 2, 4, 8, 16, 32)


def test_configured_buckets_are_clipped_to_the_input_and_always_end_at_its_full_length():
    assert SequenceBuckets.for_length(80).lengths == (16, 32, 48, 64, 80)
    assert SequenceBuckets.for_length(80, [80]).lengths == (80,)  # fixed length
    assert SequenceBuckets.for_length(48, [32, 16, 64, 128]).lengths == (16, 32, 48)
    buckets = SequenceBuckets.for_length(80, [16, 32])
    assert [buckets.bucket(n) for n in (0, 1, 16, 17, 33, 80)] == [16, 16, 16, 32, 80, 80]
    with pytest.raises(ValueError, match="exceeds the largest"):
        buckets.bucket(81)
    with pytest.raises(ValueError, match="strictly increasing"):
        SequenceBuckets((32, 16))


def test_row_lengths_count_up_to_the_last_real_token_of_any_id_array():
    ids = np.array([[2, 5, 3, 0, 0, 0], [2, 3, 0, 0, 0, 0], [2, 5, 6, 7, 8, 3], [0, 0, 0, 0, 0, 0]])
    segments = np.array([[0, 0, 0, 1, 1, 1]] * 4)  # never counted: segment 0 is also padding's
    assert row_lengths({"input_ids": ids, "segment_ids": segments}, pad_id=0).tolist() == [3, 2, 6, 0]
    other = np.array([[2, 3, 0, 0, 0, 0], [2, 4, 4, 4, 3, 0], [2, 3, 0, 0, 0, 0], [2, 3, 0, 0, 0, 0]])
    assert row_lengths({"context_ids": ids, "response_ids": other}, pad_id=0).tolist() == [3, 5, 6, 2]
    cut = trim({"input_ids": ids, "segment_ids": segments, "label": np.ones(4)}, 3)
    assert cut["input_ids"].shape == (4, 3) and cut["segment_ids"].shape == (4, 3) and cut["label"].shape == (4,)


def test_chunk_plan_sorts_by_length_covers_every_row_once_and_respects_the_token_budget():
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 81, size=1000)
    buckets = SequenceBuckets.for_length(80)
    chunks = plan_chunks(lengths, buckets, max_rows=64)
    rows = np.concatenate([c.rows for c in chunks])
    assert sorted(rows.tolist()) == list(range(1000))
    assert all(len(c.rows) <= 64 and lengths[c.rows].max() <= c.length == buckets.bucket(lengths[c.rows].max()) for c in chunks)
    padded = sum(len(c.rows) * c.length for c in chunks)
    assert padded < 0.75 * 1000 * 80  # sorted: far less padding than every row at 80
    budget = plan_chunks(lengths, buckets, max_rows=64, max_tokens=1024)
    assert all(len(c.rows) * c.length <= 1024 for c in budget)
    assert sorted(np.concatenate([c.rows for c in budget]).tolist()) == list(range(1000))
    # A single row longer than the budget still runs (alone).
    assert [len(c.rows) for c in plan_chunks([80, 80], buckets, max_rows=8, max_tokens=10)] == [1, 1]
    assert plan_chunks([], buckets, max_rows=8) == []
