"""Which stages a local run still has to do — the operator's pipeline, decided from the files.

Pure functions: given the spec and what the artifact layout already holds, say what runs next.
Finished stages of the same model version are reused; an interrupted `train` is simply run
again and resumes from its last checkpoint.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from ..api.spec import DialogModelSpec, Task
from ..api.status import Phase


class Stage(str, Enum):
    train = "train"
    build_index = "build-index"
    serve = "serve"


PHASE_OF_STAGE = {
    Stage.train: Phase.Training,
    Stage.build_index: Phase.Indexing,
    Stage.serve: Phase.RollingOut,
}


@dataclass(frozen=True)
class Done:
    """What the artifact layout already holds for this model version."""

    trained: bool
    indexed: bool


def pipeline(spec: DialogModelSpec) -> list[Stage]:
    stages = [Stage.train]
    if spec.task == Task.retrieval:
        stages.append(Stage.build_index)
    if spec.serving.enabled:
        stages.append(Stage.serve)
    return stages


def pending(spec: DialogModelSpec, done: Done) -> list[Stage]:
    """Stages still to run, in order; serving always runs (it is the foreground process)."""
    finished = {Stage.train: done.trained, Stage.build_index: done.trained and done.indexed}
    return [s for s in pipeline(spec) if not finished.get(s, False)]
