"""What the operator reads from a training pod's log: the line protocol of
`rejoinder.progress_lines` (shared with `rejoinder train` and local mode), and the log's tail for
condition messages."""

from __future__ import annotations

import math
from typing import Any, Mapping, Optional, Sequence

from rejoinder.progress_lines import METRICS_TAG, PROGRESS_TAG, ProgressLine, last_metrics
from rejoinder.progress_lines import last_progress as _last_progress

__all__ = ["ProgressLine", "final_metrics", "finite", "last_lines", "last_progress", "split_finite", "termination_messages"]


def last_progress(log_text: str) -> Optional[ProgressLine]:
    return _last_progress(log_text.splitlines())


def final_metrics(log_text: str) -> Optional[dict[str, float]]:
    return last_metrics(log_text.splitlines())


def last_lines(log_text: str, count: int = 10, width: int = 300) -> str:
    """The tail of a log for a condition message (protocol lines and blank lines left out)."""
    lines = [line[:width] for line in log_text.splitlines()
             if line.strip() and not line.startswith((PROGRESS_TAG, METRICS_TAG))]
    return "\n".join(lines[-count:])


def termination_messages(pods: Sequence[Mapping[str, Any]]) -> str:
    """The termination messages of the pods' terminated containers (the trainer writes its final
    metrics line to /dev/termination-log), oldest pod first."""
    ordered = sorted(pods, key=lambda p: (p.get("metadata") or {}).get("creationTimestamp") or "")
    messages = []
    for pod in ordered:
        for cs in ((pod.get("status") or {}).get("containerStatuses") or []):
            message = ((cs.get("state") or {}).get("terminated") or {}).get("message")
            if message:
                messages.append(message)
    return "\n".join(messages)


def finite(value: Optional[float]) -> Optional[float]:
    return value if value is not None and math.isfinite(value) else None


def split_finite(values: Mapping[str, float]) -> tuple[dict[str, float], list[str]]:
    """(the finite values, the names of the NaN/Infinity ones): no API body may hold NaN or Infinity."""
    good = {k: v for k, v in values.items() if math.isfinite(v)}
    return good, sorted(k for k in values if k not in good)
