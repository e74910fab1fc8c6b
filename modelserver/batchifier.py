"""Request batchifier: concurrent requests become one model call.

A batch holds at most `max_batch_size` rows (a Rerank request of 20 candidates is 20 rows; a
Retrieve request is one) and, when `max_batch_tokens` is set, at most that many padded tokens
(rows × the sequence bucket of its longest row). Requests are grouped by sequence bucket
(`grouping.choose`): the oldest request always goes, with others of its bucket or shorter, so a
long request does not pad thirty short ones. Only one batch runs at a time per batchifier, in
its own worker thread; requests arriving meanwhile queue up. When the model is free, the next
batch starts as soon as it is full, or `max_delay_s` after it could first have started (the
oldest request's arrival on an idle model, the end of the previous batch on a busy one) — so
batching adds at most `max_delay_s` to any request's wait for the model.

Guarantees the server relies on:
- the queue is bounded: `submit` on a full queue raises `QueueFull` at once (RESOURCE_EXHAUSTED);
- a request that is cancelled or whose deadline passes leaves the queue and never reaches the
  model;
- an exception in one batch fails only that batch's requests (`BatchFailed`); the worker keeps
  serving the next batch;
- `close()` refuses new requests and finishes every accepted one (drain).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, Generic, Optional, Protocol, Sequence, TypeVar

from rejoinder.models.shapes import SequenceBuckets

from .grouping import Budget, choose

log = logging.getLogger(__name__)

P = TypeVar("P")  # a request's payload
R = TypeVar("R")  # its result


class QueueFull(Exception):
    """The bounded queue is full: the caller should answer RESOURCE_EXHAUSTED."""


class Closed(Exception):
    """The batchifier is draining or stopped and accepts no new requests."""


class DeadlineExceeded(Exception):
    """The request's deadline passed while it waited in the queue."""


class BatchFailed(Exception):
    """The batch this request was part of raised; `__cause__` is the model's exception."""


class BatchObserver(Protocol):
    """Receives what the metrics need; every method is called on the event loop thread."""

    def queue_depth_changed(self, batcher: str, depth: int) -> None: ...

    def batch_started(
        self, batcher: str, rows: int, requests: int, queue_waits: Sequence[float], real_tokens: int, padded_tokens: int
    ) -> None: ...

    def batch_finished(self, batcher: str, seconds: float, ok: bool) -> None: ...


@dataclass(eq=False)
class _Item(Generic[P, R]):
    payload: P
    rows: int
    length: int  # tokens of its longest row (0: unknown, one bucket for all)
    tokens: int  # tokens of all its rows
    future: asyncio.Future
    enqueued: float
    timer: Optional[asyncio.TimerHandle] = field(default=None)


class Batchifier(Generic[P, R]):
    """Groups payloads submitted concurrently into calls of `run_batch(payloads) -> results`.

    `run_batch` is synchronous (it runs the model) and is called in a dedicated worker thread
    with the payloads of one batch; it returns one result per payload, in order.
    """

    def __init__(
        self,
        name: str,
        run_batch: Callable[[list[P]], Sequence[R]],
        *,
        max_batch_size: int,
        max_delay_s: float,
        capacity: int,
        observer: Optional[BatchObserver] = None,
        sequence_buckets: Optional[SequenceBuckets] = None,
        max_batch_tokens: Optional[int] = None,
    ) -> None:
        if max_batch_size < 1 or capacity < 1 or max_delay_s < 0 or (max_batch_tokens is not None and max_batch_tokens < 1):
            raise ValueError("max_batch_size, capacity and max_batch_tokens must be >= 1 and max_delay_s >= 0")
        self.name = name
        self.max_batch_size = max_batch_size
        self.sequence_buckets = sequence_buckets
        self.budget = Budget(max_batch_size, max_batch_tokens)
        self.max_delay_s = max_delay_s
        self.capacity = capacity
        self._run_batch = run_batch
        self._observer = observer
        self._queue: collections.deque[_Item[P, R]] = collections.deque()
        self._wakeup = asyncio.Event()
        self._closing = False
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"batch-{name}")
        self._worker: Optional[asyncio.Task] = None

    # --- requests ---------------------------------------------------------------------------

    @property
    def depth(self) -> int:
        return len(self._queue)

    async def submit(
        self, payload: P, rows: int = 1, timeout_s: Optional[float] = None, length: int = 0, tokens: Optional[int] = None
    ) -> R:
        """Queue one request and wait for its result. `length`: tokens of its longest row
        (what it is padded to); `tokens`: real tokens of all its rows (default rows × length).

        Raises QueueFull (at once), Closed, DeadlineExceeded, BatchFailed; cancelling the
        awaiting task removes the request from the queue.
        """
        if self._closing:
            raise Closed(f"{self.name}: server is shutting down")
        if len(self._queue) >= self.capacity:
            raise QueueFull(f"{self.name}: request queue is full ({self.capacity} waiting); retry later")
        self._ensure_worker()
        loop = asyncio.get_running_loop()
        rows = max(1, rows)
        item: _Item[P, R] = _Item(
            payload, rows, length, rows * length if tokens is None else tokens, loop.create_future(), time.monotonic()
        )
        if timeout_s is not None:
            item.timer = loop.call_later(max(0.0, timeout_s), self._expire, item)
        self._queue.append(item)
        self._depth_changed()
        self._wakeup.set()
        try:
            return await item.future
        except asyncio.CancelledError:
            self._leave(item)
            raise
        finally:
            if item.timer is not None:
                item.timer.cancel()

    def _expire(self, item: _Item[P, R]) -> None:
        if not item.future.done() and self._leave(item):
            item.future.set_exception(DeadlineExceeded(f"{self.name}: deadline passed while queued"))

    def _leave(self, item: _Item[P, R]) -> bool:
        """Take a request that no longer wants an answer out of the queue (if still there)."""
        try:
            self._queue.remove(item)
        except ValueError:
            return False  # already in a running batch: its result is simply dropped
        self._depth_changed()
        return True

    def _depth_changed(self) -> None:
        if self._observer is not None:
            self._observer.queue_depth_changed(self.name, len(self._queue))

    # --- the worker -------------------------------------------------------------------------

    def _ensure_worker(self) -> None:
        if self._worker is None or self._worker.done():
            self._worker = asyncio.get_running_loop().create_task(self._work(), name=f"batchifier-{self.name}")

    def bucket(self, length: int) -> int:
        """The sequence length a row of `length` tokens is padded to (0 without buckets)."""
        return 0 if self.sequence_buckets is None or length <= 0 else self.sequence_buckets.bucket(length)

    async def _next_batch(self) -> Optional[list[_Item[P, R]]]:
        model_free = time.monotonic()
        while not self._queue:
            if self._closing:
                return None
            self._wakeup.clear()
            await self._wakeup.wait()
        first = self._queue.popleft()
        head_bucket = self.bucket(first.length)
        # Wait for others at most max_delay past the moment the batch could start: when the first
        # request arrived (idle model) or when the previous batch finished (busy model). Counting
        # from the arrival only would start a busy model's next batch before the clients answered
        # by the previous one are back, splitting steady load into ever smaller batches.
        close_at = max(first.enqueued, model_free) + self.max_delay_s
        while True:
            queued = list(self._queue)
            choice = choose(first.rows, head_bucket, [(i.rows, self.bucket(i.length)) for i in queued], self.budget)
            remaining = close_at - time.monotonic()
            if choice.full or remaining <= 0 or self._closing:
                break
            self._wakeup.clear()
            try:
                await asyncio.wait_for(self._wakeup.wait(), remaining)
            except asyncio.TimeoutError:
                pass  # choose once more with the queue as it is now
        batch = [first] + [queued[i] for i in choice.chosen]
        for item in batch[1:]:
            self._queue.remove(item)
        self._depth_changed()
        return batch

    async def _work(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = await self._next_batch()
            if batch is None:
                return
            live = [item for item in batch if not item.future.done()]
            if not live:
                continue
            started = time.monotonic()
            if self._observer is not None:
                rows = sum(i.rows for i in live)
                self._observer.batch_started(
                    self.name, rows, len(live), [started - i.enqueued for i in live],
                    real_tokens=sum(i.tokens for i in live),
                    padded_tokens=rows * self.bucket(max(i.length for i in live)),
                )
            ok = True
            try:
                results = await loop.run_in_executor(self._executor, self._run_batch, [i.payload for i in live])
                if len(results) != len(live):
                    raise RuntimeError(f"run_batch returned {len(results)} results for {len(live)} requests")
            except Exception as error:  # fail this batch only; keep serving
                ok = False
                log.exception("%s: batch of %d requests failed", self.name, len(live))
                for item in live:
                    if not item.future.done():
                        failure = BatchFailed(f"{self.name}: model failed on this batch: {error}")
                        failure.__cause__ = error
                        item.future.set_exception(failure)
            else:
                for item, result in zip(live, results):
                    if not item.future.done():
                        item.future.set_result(result)
            if self._observer is not None:
                self._observer.batch_finished(self.name, time.monotonic() - started, ok)

    # --- lifecycle --------------------------------------------------------------------------

    async def close(self) -> None:
        """Refuse new requests, finish the queued and running ones, stop the worker thread."""
        self._closing = True
        self._wakeup.set()
        if self._worker is not None:
            await self._worker
        self._executor.shutdown(wait=True)
