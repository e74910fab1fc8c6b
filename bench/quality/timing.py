"""The machine-wide benchmark lock: timings that go into docs/ are taken holding it."""

from __future__ import annotations

import contextlib
import fcntl
from typing import Iterator

LOCK = "/tmp/rejoinder-bench.lock"


@contextlib.contextmanager
def bench_lock(path: str = LOCK) -> Iterator[None]:
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
