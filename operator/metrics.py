"""The operator's own Prometheus metrics (served by `rejoinder operator` on its metrics port)."""

from __future__ import annotations

import threading

from prometheus_client import Counter, Gauge, Histogram

RECONCILES = Counter("rejoinder_operator_reconciles_total", "Reconciliations of DialogModels", ["result"])
RECONCILE_SECONDS = Histogram("rejoinder_operator_reconcile_seconds", "Time of one reconciliation (observe, plan, apply)",
                              buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
SCALINGS = Counter("rejoinder_operator_scaling_decisions_total", "Replica changes made by the RPS autoscaler", ["direction"])
_MODELS = Gauge("rejoinder_operator_dialogmodels", "DialogModels by phase", ["phase"])


class _Phases:
    """Current phase per model, exported as a count per phase."""

    def __init__(self) -> None:
        self._phase: dict[tuple[str, str], str] = {}
        self._lock = threading.Lock()

    def set_phase(self, key: tuple[str, str], phase: str) -> None:
        with self._lock:
            self._phase[key] = phase
            self._export()

    def forget(self, key: tuple[str, str]) -> None:
        with self._lock:
            self._phase.pop(key, None)
            self._export()

    def count(self) -> int:
        return len(self._phase)

    def _export(self) -> None:
        counts: dict[str, int] = {}
        for phase in self._phase.values():
            counts[phase] = counts.get(phase, 0) + 1
        for phase in ("Pending", "Training", "Indexing", "RollingOut", "Serving", "Trained", "Degraded", "Failed"):
            _MODELS.labels(phase=phase).set(counts.get(phase, 0))


PHASES = _Phases()
