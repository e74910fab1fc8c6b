"""Standard conditions: set one, keep `lastTransitionTime` unless its status changes, and list the
transitions (the operator makes each an Event). The one condition setter of the operator and of
local mode."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Optional

from ..api.status import Condition, ConditionType
from ..constants import RFC3339

# Reasons that deserve a Warning event rather than a Normal one.
WARNING_REASONS = {
    "JobFailed", "BackoffLimitExceeded", "DeadlineExceeded", "MPIJobFailed", "IndexJobFailed",
    "MPIJobCRDMissing", "NoStorage", "ProgressDeadlineExceeded", "RolledBack", "QualityGateFailed",
    "MetricsMissing", "ImagePullBackOff", "ErrImagePull", "CrashLoopBackOff", "Unschedulable",
    "WaitingForGPUNodes", "ProbeFailing", "NoReplicasAvailable", "TrainingFailed", "InvalidSpec",
    "ChildRejected", "TrainingDiverged", "CleanupSkipped",
    "CanaryWorse", "TooFewReactions", "Inconclusive", "FeedbackUnknown",  # rollout.canary (operator/canary.py)
}

MAX_MESSAGE = 4000


def rfc3339(now: datetime) -> str:
    return now.strftime(RFC3339)


def parse_rfc3339(text: Optional[str]) -> Optional[datetime]:
    """A time written by rfc3339() (or the apiserver); None when absent or unreadable."""
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class Transition:
    type: str
    status: str
    reason: str
    message: str

    @property
    def warning(self) -> bool:
        return self.reason in WARNING_REASONS or (self.type == ConditionType.Degraded.value and self.status == "True")


class Conditions:
    """A mutable view over a status' condition list."""

    def __init__(self, existing: list[Condition], now: datetime, generation: Optional[int]):
        self._by_type = {c.type: c for c in existing}
        self._before = {c.type: (c.status, c.reason) for c in existing}
        self._now = rfc3339(now)
        self._generation = generation

    def set(self, ctype: ConditionType, status: bool | str, reason: str, message: str = "") -> None:
        value = status if isinstance(status, str) else ("True" if status else "False")
        old = self._by_type.get(ctype)
        changed = old is None or old.status != value
        self._by_type[ctype] = Condition(
            type=ctype, status=value, reason=reason, message=message[:MAX_MESSAGE],
            last_transition_time=self._now if changed else old.last_transition_time,  # type: ignore[union-attr]
            observed_generation=self._generation,
        )

    def get(self, ctype: ConditionType) -> Optional[Condition]:
        return self._by_type.get(ctype)

    def is_true(self, ctype: ConditionType) -> bool:
        c = self._by_type.get(ctype)
        return c is not None and c.status == "True"

    def as_list(self) -> list[Condition]:
        order = list(ConditionType)
        return sorted(self._by_type.values(), key=lambda c: order.index(c.type))

    def transitions(self) -> list[Transition]:
        out = []
        for c in self.as_list():
            if self._before.get(c.type) != (c.status, c.reason):
                out.append(Transition(c.type.value, c.status, c.reason, c.message))
        return out
