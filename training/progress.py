"""Rank 0's view of training: a tqdm bar (loss, examples/s) for people and
`REJOINDER_PROGRESS step=.. total=.. loss=.. examples_per_sec=..` lines for the operator, which
reads them from the pod log (every ~1 % of the steps and at every checkpoint), plus the final
`REJOINDER_METRICS {...}` line."""

from __future__ import annotations

import os
import sys
import time
from typing import Optional, TextIO

from rejoinder import progress_lines


def progress_line(step: int, total: int, loss: float, examples_per_sec: float) -> str:
    """The shared wire format (rejoinder.progress_lines), which the operator parses."""
    return progress_lines.format_progress(progress_lines.ProgressLine(step, total, loss, examples_per_sec))


def metrics_line(metrics: dict[str, float]) -> str:
    return progress_lines.format_metrics(metrics)


TERMINATION_LOG = "/dev/termination-log"  # the pod's terminationMessagePath (Kubernetes' default)


def report_metrics(metrics: dict[str, float], termination_log: str | None = None) -> None:
    """Print the final metrics line and, in a pod, write it as the container's termination message:
    the operator reads it from the pod's status, where no log tail cut by NCCL output can lose it."""
    line = metrics_line(metrics)
    print(line, flush=True)
    path = termination_log or os.environ.get("REJOINDER_TERMINATION_LOG") or TERMINATION_LOG
    if os.path.exists(path) and os.access(path, os.W_OK):
        with open(path, "w", encoding="utf-8") as f:  # the kubelet keeps the first 4096 bytes
            f.write(line[:4096])


class ProgressReporter:
    """Feeds the bar and the machine-readable lines; silent on ranks other than 0."""

    def __init__(self, total_steps: int, start_step: int, global_batch: int, enabled: bool,
                 stream: TextIO | None = None, report_every: Optional[int] = None):
        self.total = total_steps
        self.global_batch = global_batch
        self.enabled = enabled
        self.stream = stream or sys.stdout
        self.report_every = report_every or max(1, total_steps // 100)
        self._bar = None
        self._last_time = time.perf_counter()
        self._last_step = start_step
        self._rate = 0.0
        self.loss = float("nan")
        if enabled:
            from tqdm import tqdm

            # the bar goes to stderr so stdout keeps only the lines the operator parses
            self._bar = tqdm(total=total_steps, initial=start_step, unit="step", dynamic_ncols=True,
                             desc="train", file=sys.stderr, mininterval=1.0)

    def update(self, step: int, loss: float, force_line: bool = False) -> None:
        """`step` is the number of completed steps."""
        if not self.enabled:
            return
        now = time.perf_counter()
        done = step - self._last_step
        if done > 0 and now > self._last_time:
            rate = done * self.global_batch / (now - self._last_time)
            self._rate = rate if self._rate == 0.0 else 0.8 * self._rate + 0.2 * rate
        self._last_time, self._last_step, self.loss = now, step, loss
        if self._bar is not None:
            self._bar.update(done)
            self._bar.set_postfix(loss=f"{loss:.4f}", ex_s=f"{self._rate:.1f}", refresh=False)
        if force_line or step % self.report_every == 0 or step == self.total:
            self.line(step, loss)

    def line(self, step: int, loss: float) -> None:
        if self.enabled:
            print(progress_line(step, self.total, loss, self._rate), file=self.stream, flush=True)

    @property
    def examples_per_sec(self) -> float:
        return self._rate

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
