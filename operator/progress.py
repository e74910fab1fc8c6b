"""What the operator reads from a training pod's log: the line protocol of
`rejoinder.progress_lines` (shared with `rejoinder train` and local mode), and the log's tail for
condition messages."""

from __future__ import annotations

from typing import Optional

from rejoinder.progress_lines import METRICS_TAG, PROGRESS_TAG, Progress, last_metrics
from rejoinder.progress_lines import last_progress as _last_progress

__all__ = ["Progress", "final_metrics", "last_lines", "last_progress"]


def last_progress(log_text: str) -> Optional[Progress]:
    return _last_progress(log_text.splitlines())


def final_metrics(log_text: str) -> Optional[dict[str, float]]:
    return last_metrics(log_text.splitlines())


def last_lines(log_text: str, count: int = 10, width: int = 300) -> str:
    """The tail of a log for a condition message (protocol lines and blank lines left out)."""
    lines = [line[:width] for line in log_text.splitlines()
             if line.strip() and not line.startswith((PROGRESS_TAG, METRICS_TAG))]
    return "\n".join(lines[-count:])
