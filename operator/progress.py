"""What the operator reads from a training pod's log (the contract with `rejoinder train`):

    REJOINDER_PROGRESS step=<n> total=<m> loss=<float> examples_per_sec=<float>
    REJOINDER_METRICS <one-line JSON of metric values>
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from typing import Optional

log = logging.getLogger(__name__)

_PROGRESS = re.compile(r"REJOINDER_PROGRESS\s+(.*)$")
_METRICS = re.compile(r"REJOINDER_METRICS\s+(\{.*\})\s*$")


@dataclass(frozen=True)
class Progress:
    step: int
    total: Optional[int]
    loss: Optional[float]
    examples_per_sec: Optional[float]


def _number(text: Optional[str], kind: type) -> Optional[float]:
    if text is None:
        return None
    try:
        value = kind(text)
    except ValueError:
        return None
    return value if value == value else None  # NaN loss is reported as unknown


def last_progress(log_text: str) -> Optional[Progress]:
    for line in reversed(log_text.splitlines()):
        match = _PROGRESS.search(line)
        if not match:
            continue
        fields = dict(part.split("=", 1) for part in match.group(1).split() if "=" in part)
        step = _number(fields.get("step"), int)
        if step is None:
            continue
        return Progress(int(step), _number(fields.get("total"), int),  # type: ignore[arg-type]
                        _number(fields.get("loss"), float), _number(fields.get("examples_per_sec"), float))
    return None


def final_metrics(log_text: str) -> Optional[dict[str, float]]:
    for line in reversed(log_text.splitlines()):
        match = _METRICS.search(line)
        if not match:
            continue
        try:
            data = json.loads(match.group(1))
        except ValueError:
            log.warning("unreadable REJOINDER_METRICS line: %s", line[:200])
            return None
        return {k: float(v) for k, v in data.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    return None


def last_lines(log_text: str, count: int = 10, width: int = 300) -> str:
    """The tail of a log for a condition message (protocol lines and blank lines left out)."""
    lines = [l[:width] for l in log_text.splitlines()
             if l.strip() and not l.startswith(("REJOINDER_PROGRESS", "REJOINDER_METRICS"))]
    return "\n".join(lines[-count:])
