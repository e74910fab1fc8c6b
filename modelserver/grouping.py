"""Which queued requests join a batch: rows of similar length, within a row and token budget.

Pure: the batchifier calls `choose` with its queue each time the queue changes during the wait
window, and takes the chosen requests when the window closes or the batch is full.

The oldest request (the head) always runs in this batch, so no request waits behind more than
the requests ahead of it. The batch runs at the head's sequence bucket L: it is filled first
with requests of that bucket, then with shorter ones (nearest bucket first), oldest first within
a bucket. A request of a longer bucket never joins: it would pad every row to its length — one
long context would make thirty short ones cost as much as thirty long ones. It runs when it is
the head. Padded tokens (rows × L) never pass `max_tokens`, except a head that alone is over it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Budget:
    max_rows: int
    max_tokens: Optional[int] = None  # padded tokens: rows × the batch's sequence bucket

    def fits(self, rows: int, bucket: int) -> bool:
        return rows <= self.max_rows and (self.max_tokens is None or rows * bucket <= self.max_tokens)


@dataclass(frozen=True)
class Choice:
    chosen: list[int]  # indices into the queue, in the order they joined
    rows: int  # the head's rows plus the chosen ones
    full: bool  # no further one-row request could join


def choose(head_rows: int, head_bucket: int, queued: Sequence[tuple[int, int]], budget: Budget) -> Choice:
    """`queued` = (rows, sequence bucket) of each waiting request, oldest first."""
    rows = head_rows
    chosen: list[int] = []
    # the head's bucket first, then shorter buckets, nearest first; longer ones never
    buckets = sorted({b for _, b in queued if b <= head_bucket}, reverse=True)
    for bucket in buckets:
        for i, (r, b) in enumerate(queued):
            if b != bucket:
                continue
            if not budget.fits(rows + r, head_bucket):
                break  # oldest first within a bucket: no overtaking
            chosen.append(i)
            rows += r
    return Choice(chosen, rows, not budget.fits(rows + 1, head_bucket))
