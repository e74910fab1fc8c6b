"""The phase and conditions each stage of the pipeline sets as it starts and as it finishes.

The operator's planner and local mode both set these, so `kubectl get dm` and `rejoinder status`
read alike. Serving ends the way a Deployment's rollout does: Progressing stays True with a
"rollout finished" reason (a Deployment says NewReplicaSetAvailable), Available turns True.
Reasons the operator alone sets (TrainingStep, JobFailed, RolledBack, …) stay in the planner;
`walk` is the pipeline from nothing to done that both must report.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from ..api.spec import DialogModelSpec
from ..api.status import ConditionType, Phase
from .conditions import Conditions
from .stages import PHASE_OF_STAGE, Stage, serves, stages


@dataclass(frozen=True)
class Mark:
    """One condition set to a status for a reason."""

    condition: ConditionType
    ok: bool
    reason: str


# Serving has finished rolling out (a Deployment says NewReplicaSetAvailable) and answers.
ROLLED_OUT = Mark(ConditionType.Progressing, True, "NewVersionAvailable")
AVAILABLE = Mark(ConditionType.Available, True, "ReplicasAvailable")

STARTED = {
    Stage.train: Mark(ConditionType.Trained, False, "JobCreated"),
    Stage.build_index: Mark(ConditionType.Indexed, False, "IndexJobCreated"),
    Stage.serve: Mark(ConditionType.Progressing, True, "RollingOut"),
}
FINISHED = {
    Stage.train: (Mark(ConditionType.Trained, True, "TrainingSucceeded"),),
    Stage.build_index: (Mark(ConditionType.Indexed, True, "IndexBuilt"),),
    Stage.serve: (ROLLED_OUT, AVAILABLE),
}
# Stages further down the pipeline, while an earlier one runs.
WAITING = {
    Stage.build_index: Mark(ConditionType.Indexed, False, "WaitingForTraining"),
    Stage.serve: Mark(ConditionType.Available, False, "NotServedYet"),
}
HEALTHY = Mark(ConditionType.Degraded, False, "AsExpected")
# A stage that ended in failure (the model is then Degraded for the same reason).
FAILED = {
    Stage.train: Mark(ConditionType.Trained, False, "JobFailed"),
    Stage.build_index: Mark(ConditionType.Indexed, False, "IndexJobFailed"),
}
# Local mode only: its one server stopped by Ctrl-C (or a signal) or exited on its own.
STOPPED = Mark(ConditionType.Available, False, "Stopped")
SERVER_EXITED = Mark(ConditionType.Available, False, "ServerExited")


def opening(spec: DialogModelSpec) -> tuple[Mark, ...]:
    """What a model shows when its pipeline starts from nothing: training started, the rest waiting."""
    later = [WAITING[s] for s in stages(spec)[1:]]
    return (STARTED[Stage.train], *later, HEALTHY)


def failed(stage: Stage) -> tuple[Mark, Mark]:
    mark = FAILED[stage]
    return mark, Mark(ConditionType.Degraded, True, mark.reason)


def set_marks(conds: Conditions, marks: Iterable[Mark], message: str = "") -> None:
    for mark in marks:
        conds.set(mark.condition, mark.ok, mark.reason, message)


@dataclass(frozen=True)
class Step:
    """A phase entered and the condition changes that came with it (since the previous step)."""

    phase: Phase
    marks: frozenset[Mark]


def walk(spec: DialogModelSpec) -> list[Step]:
    """The steps of a pipeline run from nothing to its end (Serving, or Trained when not served)."""
    todo = stages(spec)
    out = [Step(Phase.Training, frozenset(opening(spec)))]
    for previous, stage in zip(todo, todo[1:]):
        out.append(Step(PHASE_OF_STAGE[stage], frozenset({*FINISHED[previous], STARTED[stage]})))
    last = todo[-1]
    out.append(Step(Phase.Serving if serves(spec) else Phase.Trained, frozenset(FINISHED[last])))
    return out
