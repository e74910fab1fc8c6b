"""The lines a training run prints so that whoever watches it can follow along.

Rank 0 of `rejoinder train` prints them on stdout; the operator reads them from the training
pod's log (it cannot see the artifacts volume), local mode from the subprocess's output:

    REJOINDER_PROGRESS step=120 total=1000 loss=0.5312 examples_per_sec=88.4
    REJOINDER_METRICS {"map": 0.47, "recall@5": 0.61}

Metrics lines carry the values of metrics.json, so a quality gate can be applied without access
to the volume. Parsing is lenient about surrounding text (log prefixes), strict about the values.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Iterable, Optional

PROGRESS_TAG = "REJOINDER_PROGRESS"
METRICS_TAG = "REJOINDER_METRICS"
# Metric names in a metrics line: `<baseline>_<m>` is a baseline's <m>; the baseline `init` is
# the untrained starting checkpoint and `gain_<m>` the model's <m> minus the start's.
START_PREFIX = "init_"
GAIN_PREFIX = "gain_"
# A fixed test split's numbers (reported, never gated on) and 95 % bootstrap interval bounds.
TEST_PREFIX = "test_"
CI_LOW = ":lo"
CI_HIGH = ":hi"

_PROGRESS_RE = re.compile(
    PROGRESS_TAG + r" step=(?P<step>\d+) total=(?P<total>\d+)"
    r"(?: loss=(?P<loss>[-+0-9.eEinfa]+))?(?: examples_per_sec=(?P<eps>[-+0-9.eEinfa]+))?"
)


@dataclass(frozen=True)
class ProgressLine:
    step: int
    total: int
    loss: Optional[float] = None
    examples_per_sec: Optional[float] = None


def format_progress(p: ProgressLine) -> str:
    parts = [f"{PROGRESS_TAG} step={p.step} total={p.total}"]
    if p.loss is not None:
        parts.append(f"loss={p.loss:.4f}")
    if p.examples_per_sec is not None:
        parts.append(f"examples_per_sec={p.examples_per_sec:.1f}")
    return " ".join(parts)


def format_metrics(metrics: dict[str, float]) -> str:
    return f"{METRICS_TAG} {json.dumps(metrics, sort_keys=True)}"


def parse_progress(line: str) -> Optional[ProgressLine]:
    match = _PROGRESS_RE.search(line)
    if match is None:
        return None
    return ProgressLine(
        step=int(match.group("step")),
        total=int(match.group("total")),
        loss=_finite(match.group("loss")),
        examples_per_sec=_finite(match.group("eps")),
    )


def _finite(text: Optional[str]) -> Optional[float]:
    """A NaN loss (a skipped mixed-precision step, say) is reported as unknown."""
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return value if value == value else None


def parse_metrics(line: str) -> Optional[dict[str, float]]:
    at = line.find(METRICS_TAG + " ")
    if at < 0:
        return None
    try:
        values = json.loads(line[at + len(METRICS_TAG) + 1 :])
    except json.JSONDecodeError:
        return None
    if not isinstance(values, dict):
        return None
    return {str(k): float(v) for k, v in values.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


def last_progress(lines: Iterable[str]) -> Optional[ProgressLine]:
    found = None
    for line in lines:
        found = parse_progress(line) or found
    return found


def last_metrics(lines: Iterable[str]) -> Optional[dict[str, float]]:
    found = None
    for line in lines:
        found = parse_metrics(line) or found
    return found
