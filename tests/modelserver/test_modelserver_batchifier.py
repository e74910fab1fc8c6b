"""The batchifier on its own: batching, bounds, cancellation, failure isolation, drain."""

from __future__ import annotations

import asyncio
import threading

import pytest

from rejoinder.modelserver.batchifier import (
    Batchifier,
    BatchFailed,
    Closed,
    DeadlineExceeded,
    QueueFull,
)
from rejoinder.modelserver.grouping import Budget, Choice, choose
from rejoinder.models.shapes import SequenceBuckets


class Recorder:
    """A run_batch that records the batches it saw; optionally blocks until released."""

    def __init__(self, fail_on: object = None, gate: threading.Event | None = None):
        self.batches: list[list[int]] = []
        self.fail_on = fail_on
        self.gate = gate

    def __call__(self, payloads: list[int]) -> list[int]:
        if self.gate is not None:
            self.gate.wait(10)
        self.batches.append(list(payloads))
        if self.fail_on in payloads:
            raise ValueError(f"bad payload {self.fail_on}")
        return [p * 10 for p in payloads]


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 20))


def test_concurrent_requests_share_a_batch_and_get_their_own_results():
    recorder = Recorder()

    async def main():
        b = Batchifier("t", recorder, max_batch_size=8, max_delay_s=0.2, capacity=100)
        results = await asyncio.gather(*(b.submit(i) for i in range(8)))
        await b.close()
        return results

    assert run(main()) == [i * 10 for i in range(8)]
    assert recorder.batches == [list(range(8))]  # one full batch, sent as soon as it was full


def test_batches_never_exceed_max_rows():
    recorder = Recorder()

    async def main():
        b = Batchifier("t", recorder, max_batch_size=4, max_delay_s=0.05, capacity=100)
        results = await asyncio.gather(*(b.submit(i, rows=2) for i in range(7)))
        await b.close()
        return results

    assert run(main()) == [i * 10 for i in range(7)]
    assert all(len(batch) * 2 <= 4 for batch in recorder.batches)
    assert sorted(p for batch in recorder.batches for p in batch) == list(range(7))


def test_a_lone_request_waits_at_most_the_delay():
    recorder = Recorder()

    async def main():
        b = Batchifier("t", recorder, max_batch_size=32, max_delay_s=0.05, capacity=10)
        result = await b.submit(3)
        await b.close()
        return result

    assert run(main()) == 30
    assert recorder.batches == [[3]]


def test_full_queue_refuses_at_once():
    gate = threading.Event()
    recorder = Recorder(gate=gate)

    async def main():
        b = Batchifier("t", recorder, max_batch_size=1, max_delay_s=0.0, capacity=2)
        running = asyncio.ensure_future(b.submit(0))
        await asyncio.sleep(0.05)  # the worker now holds request 0 inside the model
        queued = [asyncio.ensure_future(b.submit(i)) for i in (1, 2)]
        await asyncio.sleep(0.05)
        assert b.depth == 2
        with pytest.raises(QueueFull):
            await b.submit(99)
        gate.set()
        results = await asyncio.gather(running, *queued)
        await b.close()
        return results

    assert run(main()) == [0, 10, 20]


def test_cancelled_and_expired_requests_leave_the_queue_and_never_run():
    gate = threading.Event()
    recorder = Recorder(gate=gate)

    async def main():
        b = Batchifier("t", recorder, max_batch_size=1, max_delay_s=0.0, capacity=10)
        blocker = asyncio.ensure_future(b.submit(0))
        await asyncio.sleep(0.05)  # the worker now holds request 0 inside the model
        cancelled = asyncio.ensure_future(b.submit(1))
        expiring = asyncio.ensure_future(b.submit(2, timeout_s=0.05))
        kept = asyncio.ensure_future(b.submit(3))
        await asyncio.sleep(0.01)
        assert b.depth == 3
        cancelled.cancel()
        with pytest.raises(DeadlineExceeded):
            await expiring
        assert b.depth == 1
        gate.set()
        results = await asyncio.gather(blocker, kept)
        assert cancelled.cancelled()
        await b.close()
        return results

    assert run(main()) == [0, 30]
    assert recorder.batches == [[0], [3]]


def test_an_exception_fails_only_its_batch():
    recorder = Recorder(fail_on=5)

    async def main():
        b = Batchifier("t", recorder, max_batch_size=2, max_delay_s=0.05, capacity=10)
        first = await asyncio.gather(b.submit(4), b.submit(5), return_exceptions=True)
        after = await asyncio.gather(b.submit(6), b.submit(7))
        await b.close()
        return first, after

    first, after = run(main())
    assert all(isinstance(r, BatchFailed) for r in first)
    assert isinstance(first[0].__cause__, ValueError)
    assert after == [60, 70]


def test_close_drains_accepted_requests_then_refuses():
    recorder = Recorder()

    async def main():
        b = Batchifier("t", recorder, max_batch_size=4, max_delay_s=0.5, capacity=100)
        accepted = [asyncio.ensure_future(b.submit(i)) for i in range(10)]
        await asyncio.sleep(0)  # let them enqueue
        await b.close()
        with pytest.raises(Closed):
            await b.submit(1)
        return await asyncio.gather(*accepted)

    assert run(main()) == [i * 10 for i in range(10)]


def test_a_busy_model_lets_requests_answered_by_its_last_batch_join_the_next():
    # Closed-loop clients resend as soon as they are answered; if the next batch started at once
    # with only the requests queued during the last one, steady load would split into small batches.
    gate = threading.Event()
    recorder = Recorder(gate=gate)

    async def main():
        b = Batchifier("t", recorder, max_batch_size=4, max_delay_s=0.5, capacity=10)
        first = asyncio.ensure_future(b.submit(0))
        await asyncio.sleep(0.6)  # batch [0] is now blocked inside the model
        queued = asyncio.ensure_future(b.submit(1))
        await asyncio.sleep(0.6)  # request 1 has waited longer than the delay when the model frees
        gate.set()
        await first
        again = await asyncio.gather(queued, b.submit(2))  # the client of request 0 sends again
        await b.close()
        return again

    assert run(main()) == [10, 20]
    assert recorder.batches == [[0], [1, 2]]


# --- sequence buckets and the token budget ------------------------------------------------------

BUCKETS = SequenceBuckets((16, 32, 48, 64, 80))


class Observed:
    """A BatchObserver that keeps the token counts of each batch."""

    def __init__(self) -> None:
        self.tokens: list[tuple[int, int]] = []

    def queue_depth_changed(self, batcher, depth):
        pass

    def batch_started(self, batcher, rows, requests, queue_waits, real_tokens, padded_tokens):
        self.tokens.append((real_tokens, padded_tokens))

    def batch_finished(self, batcher, seconds, ok):
        pass


def _submit_while_blocked(batchifier_kwargs, requests, gate_payload=-1):
    """Block the model on a first request, queue `requests` = [(payload, length)], release."""
    gate = threading.Event()
    recorder = Recorder(gate=gate)
    observed = Observed()

    async def main():
        b = Batchifier("t", recorder, capacity=100, observer=observed, sequence_buckets=BUCKETS, **batchifier_kwargs)
        blocker = asyncio.ensure_future(b.submit(gate_payload, length=3))
        await asyncio.sleep(0.1)  # [blocker] is inside the model
        waiting = [asyncio.ensure_future(b.submit(p, length=n, tokens=n)) for p, n in requests]
        await asyncio.sleep(0.05)
        gate.set()
        results = await asyncio.gather(blocker, *waiting)
        await b.close()
        return results

    results = run(main())
    assert results == [gate_payload * 10] + [p * 10 for p, _ in requests]
    return recorder.batches[1:], observed.tokens[1:]


def test_a_long_request_does_not_pad_the_short_ones_queued_with_it():
    # oldest first: short 0, long 1, short 2..5; the long one waits for the next batch (its own)
    batches, tokens = _submit_while_blocked(
        dict(max_batch_size=8, max_delay_s=0.05), [(0, 5), (1, 70), (2, 9), (3, 12), (4, 16), (5, 3)]
    )
    assert batches == [[0, 2, 3, 4, 5], [1]]
    assert tokens == [(5 + 9 + 12 + 16 + 3, 5 * 16), (70, 80)]


def test_a_long_head_takes_its_own_bucket_first_then_shorter_rows():
    batches, _ = _submit_while_blocked(
        dict(max_batch_size=3, max_delay_s=0.05), [(0, 40), (1, 5), (2, 45), (3, 20), (4, 70)]
    )
    # head 0 (bucket 48): 2 (same bucket), then 3 (32, nearest shorter); 1 and 4 later
    assert batches[0] == [0, 2, 3]
    assert sorted(p for batch in batches for p in batch) == [0, 1, 2, 3, 4]


def test_the_token_budget_closes_a_batch_before_max_rows():
    batches, tokens = _submit_while_blocked(
        dict(max_batch_size=32, max_delay_s=0.05, max_batch_tokens=64), [(i, 5 + i) for i in range(10)]
    )
    assert all(padded <= 64 for _, padded in tokens)
    assert [len(b) for b in batches] == [4, 4, 2]  # 4 rows × bucket 16 = 64 tokens
    assert [p for batch in batches for p in batch] == list(range(10))  # oldest first within a bucket


def test_a_request_over_the_budget_alone_still_runs_alone():
    batches, tokens = _submit_while_blocked(
        dict(max_batch_size=32, max_delay_s=0.05, max_batch_tokens=64), [(0, 80), (1, 4)]
    )
    assert batches == [[0], [1]] and tokens == [(80, 80), (4, 16)]


def test_a_batch_is_full_at_the_budget_and_starts_without_waiting_out_the_delay():
    recorder = Recorder()

    async def main():
        b = Batchifier("t", recorder, max_batch_size=32, max_delay_s=5.0, capacity=100,
                       sequence_buckets=BUCKETS, max_batch_tokens=32)
        return await asyncio.gather(b.submit(0, length=10), b.submit(1, length=12))

    assert run(main()) == [0, 10]  # within the test's 20 s, not after the 5 s delay per batch
    assert recorder.batches == [[0, 1]]


def test_grouping_is_pure_and_never_lets_a_longer_bucket_join():
    budget = Budget(max_rows=4, max_tokens=None)
    choice = choose(1, 32, [(1, 80), (1, 16), (1, 32), (2, 32), (1, 16)], budget)
    assert choice.chosen == [2, 3] and choice.rows == 4 and choice.full
    assert choose(1, 32, [(1, 80)], budget) == Choice([], 1, False)
    # oldest first within a bucket: a request that does not fit is not overtaken by a later one
    assert choose(3, 16, [(2, 16), (1, 16)], budget).chosen == []
    assert choose(1, 16, [(1, 16)], Budget(4, max_tokens=16)).full
