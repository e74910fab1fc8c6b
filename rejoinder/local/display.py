"""`kubectl get dm`-style rows for local models (pure formatting)."""

from __future__ import annotations

from typing import Sequence

from ..api.status import DialogModelStatus
from ..progress_lines import CI_HIGH, CI_LOW, GAIN_PREFIX, TEST_PREFIX

# METRICS shows each value's gain over the untrained start in parentheses where there is one.
HEADER = ("NAME", "TASK", "PHASE", "VERSION", "PROGRESS", "METRICS", "ENDPOINT", "MESSAGE")


def _progress(status: DialogModelStatus) -> str:
    t = status.training
    if t is None or not t.total_steps:
        return "-"
    text = f"{t.step}/{t.total_steps}"
    if t.loss is not None:
        text += f" loss={t.loss:.3f}"
    return text


def _metrics(status: DialogModelStatus, limit: int = 3) -> str:
    """The held-out metrics; where the data has a fixed test split, the test ones (`test:`)."""
    if not status.metrics:
        return "-"
    preferred = ["recall@5", "recall@20", "mrr@20", "map", "recall@1", "accuracy", "roc_auc", "mlm_accuracy"]
    test = {k[len(TEST_PREFIX):]: v for k, v in status.metrics.items() if k.startswith(TEST_PREFIX)}
    metrics = test or status.metrics
    keys = [k for k in preferred if k in metrics] or sorted(k for k in metrics if "_" not in k)
    return ("test: " if test else "") + " ".join(_with_gain(k, metrics) for k in keys[:limit])


def _with_gain(key: str, metrics: dict[str, float]) -> str:
    """`recall@5=0.812(+0.059)`: the value and, for a model with a pretrained start, its gain over
    it (with the gain's 95 % bootstrap interval where the evaluation gives one)."""
    gain = metrics.get(GAIN_PREFIX + key)
    text = f"{key}={metrics[key]:.3f}"
    if gain is None:
        return text
    lo, hi = metrics.get(f"{GAIN_PREFIX}{key}{CI_LOW}"), metrics.get(f"{GAIN_PREFIX}{key}{CI_HIGH}")
    interval = f"[{lo:+.3f},{hi:+.3f}]" if lo is not None and hi is not None else ""
    return text + f"({gain:+.3f}{interval})"


def row(name: str, task: str, status: DialogModelStatus) -> tuple[str, ...]:
    return (
        name,
        task,
        status.phase.value,
        status.serving_version or status.latest_version or "-",
        _progress(status),
        _metrics(status),
        status.endpoint or "-",
        status.message or "",
    )


def table(rows: Sequence[tuple[str, ...]]) -> str:
    all_rows = [HEADER, *rows]
    widths = [max(len(r[i]) for r in all_rows) for i in range(len(HEADER) - 1)]
    lines = []
    for r in all_rows:
        cells = [c.ljust(w) for c, w in zip(r, widths)] + [r[-1]]
        lines.append("   ".join(cells).rstrip())
    return "\n".join(lines)
