"""The reaction log: one writer per server process, group commit, acknowledged only after fsync.

    append(record) ──► bounded queue ──► writer thread: take up to `batch_size` records,
                       (full: LogFull)   write them as one buffer, flush, fsync, then resolve
                                         their futures (OK) — or fail them all (LogUnavailable)

Segments are named by `rejoinder.feedback.segments.segment_name` (instance, opened, sequence):
each is created exclusively (a restart never appends to an old file) and its directory is
fsync'd so the new name survives a crash too. A segment rotates once it reaches
`segment_bytes`. After any OSError the segment is abandoned — what the kernel did with the
failed write is unknown (a failed fsync may have dropped the dirty pages) — so the next batch
starts a new segment and a torn line can only ever be the last line of a segment.

The file system is a seam (`Disk`): tests inject failures without relying on permissions
(root ignores chmod).
"""

from __future__ import annotations

import concurrent.futures
import logging
import os
import queue
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import BinaryIO, Callable, Optional, Protocol

from rejoinder.feedback.records import ReactionRecord
from rejoinder.feedback.segments import segment_name

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReactionLogConfig:
    directory: Path
    segment_bytes: int = 64 * 1024 * 1024
    queue_size: int = 4096  # records waiting for the writer; beyond: RESOURCE_EXHAUSTED
    batch_size: int = 256  # records per write + fsync (1 = fsync per record)

    def __post_init__(self) -> None:
        for name in ("segment_bytes", "queue_size", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"reaction log {name} must be >= 1, got {getattr(self, name)}")


class LogFull(Exception):
    """The queue holds `queue_size` records already (RESOURCE_EXHAUSTED: retry with backoff)."""


class LogUnavailable(Exception):
    """The disk refused the write, or the log is closed (UNAVAILABLE: nothing was acknowledged)."""


class LogObserver(Protocol):
    def log_queue_depth(self, depth: int) -> None: ...
    def log_batch_written(self, records: int, nbytes: int, seconds: float) -> None: ...
    def log_error(self, kind: str) -> None: ...


class Disk:
    """The file operations the writer uses; tests subclass it to fail on purpose."""

    def create(self, path: Path) -> BinaryIO:
        path.parent.mkdir(parents=True, exist_ok=True)
        return open(path, "xb")  # exclusive: never an existing segment

    def write(self, f: BinaryIO, data: bytes) -> None:
        f.write(data)
        f.flush()

    def fsync(self, f: BinaryIO) -> None:
        os.fsync(f.fileno())

    def fsync_dir(self, directory: Path) -> None:
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


_STOP = object()


class ReactionLog:
    def __init__(
        self, config: ReactionLogConfig, instance: str, *, disk: Optional[Disk] = None,
        observer: Optional[LogObserver] = None, now: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
    ) -> None:
        self.config = config
        self.instance = instance
        self.disk = disk or Disk()
        self.observer = observer
        self.now = now
        self._queue: queue.Queue = queue.Queue(maxsize=config.queue_size)
        self._closed = False
        self._lock = threading.Lock()  # orders append's closed-check against close()
        self._file: Optional[BinaryIO] = None
        self._path: Optional[Path] = None
        self._written = 0  # bytes in the current segment
        self._sequence = 0
        self.segments_opened: list[Path] = []
        self._thread = threading.Thread(target=self._run, name="reaction-log", daemon=True)
        self._thread.start()

    # --- callers (any thread) ----------------------------------------------------------------

    def append(self, record: ReactionRecord) -> concurrent.futures.Future:
        """Queue `record`; the future resolves (None) once it is on disk and fsync'd."""
        future: concurrent.futures.Future = concurrent.futures.Future()
        with self._lock:
            if self._closed:
                raise LogUnavailable("the reaction log is closed (the server is shutting down)")
            try:
                self._queue.put_nowait((record.to_line(), future))
            except queue.Full:
                self._error("queue_full")
                raise LogFull(
                    f"the reaction log's queue is full ({self.config.queue_size} reactions waiting for the disk); "
                    "retry with backoff"
                ) from None
        self._depth()
        return future

    def close(self, timeout_s: float = 30.0) -> None:
        """Refuse new records, write every queued one, fsync and close the segment."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._queue.put(_STOP)  # blocks only while the writer drains a full queue
        self._thread.join(timeout_s)
        if self._thread.is_alive():
            log.error("reaction log writer did not finish within %.0f s", timeout_s)

    @property
    def queue_depth(self) -> int:
        return self._queue.qsize()

    # --- the writer thread -------------------------------------------------------------------

    def _run(self) -> None:
        stopping = False
        while not stopping:
            batch = [self._queue.get()]
            while len(batch) < self.config.batch_size:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            if batch[-1] is _STOP:  # close() puts it last, after refusing new records
                stopping = True
                batch.pop()
            self._depth()
            live = [(line, f) for line, f in batch if f.set_running_or_notify_cancel()]
            if live:
                self._commit(live)
        self._close_segment()
        log.info("reaction log closed%s", f" ({self._path})" if self._path else "")

    def _commit(self, batch: list[tuple[bytes, concurrent.futures.Future]]) -> None:
        data = b"".join(line for line, _ in batch)
        started = time.perf_counter()
        try:
            f = self._segment()
            self.disk.write(f, data)
            self.disk.fsync(f)
        except OSError as error:
            self._error("disk")
            log.error("reaction log: cannot write %s: %s; abandoning the segment, the next batch starts a new one",
                      self._path, error)
            self._abandon()
            failure = LogUnavailable(f"the reaction log cannot write to disk ({error}); nothing was recorded, retry")
            for _, future in batch:
                future.set_exception(failure)
            return
        self._written += len(data)
        if self.observer is not None:
            self.observer.log_batch_written(len(batch), len(data), time.perf_counter() - started)
        for _, future in batch:
            future.set_result(None)
        if self._written >= self.config.segment_bytes:
            self._close_segment()

    def _segment(self) -> BinaryIO:
        if self._file is not None:
            return self._file
        directory = self.config.directory
        while True:
            path = directory / segment_name(self.instance, self.now(), self._sequence)
            self._sequence += 1
            try:
                self._file = self.disk.create(path)
                break
            except FileExistsError:  # a restart within the same second under the same instance name
                continue
        self._path, self._written = path, 0
        self.segments_opened.append(path)
        self.disk.fsync_dir(directory)  # the new name is durable before any record in it is acknowledged
        log.info("reaction log: new segment %s", path)
        return self._file

    def _close_segment(self) -> None:
        if self._file is None:
            return
        try:
            self.disk.fsync(self._file)
            self._file.close()
        except OSError as error:
            log.error("reaction log: closing %s: %s", self._path, error)
        self._file = None

    def _abandon(self) -> None:
        if self._file is not None:
            try:
                self._file.close()
            except OSError:
                pass
        self._file = None

    def _depth(self) -> None:
        if self.observer is not None:
            self.observer.log_queue_depth(self._queue.qsize())

    def _error(self, kind: str) -> None:
        if self.observer is not None:
            self.observer.log_error(kind)
