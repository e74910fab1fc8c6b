"""Which stages a DialogModel runs, the phase each one shows, and the files that mark it done.

    train ─→ build-index (retrieval only) ─→ serve (serving.enabled, never pretraining)

`builds_index` and `serves` are the only places that decide which stages exist, and the task's
definition (rejoinder/tasks) supplies the facts they use.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from ..api.spec import DialogModelSpec
from ..api.status import Phase
from ..api.versioning import index_version
from ..tasks import task_module


class Stage(str, Enum):
    train = "train"
    build_index = "build-index"
    serve = "serve"


PHASE_OF_STAGE = {
    Stage.train: Phase.Training,
    Stage.build_index: Phase.Indexing,
    Stage.serve: Phase.RollingOut,
}


def builds_index(spec: DialogModelSpec) -> bool:
    """Only a retrieval model has an index of responses to search."""
    return task_module(spec.task).builds_index


def serves(spec: DialogModelSpec) -> bool:
    """Served when asked for; pretraining models never are (the CRD refuses the combination too)."""
    return spec.serving.enabled and task_module(spec.task).served


def stages(spec: DialogModelSpec) -> list[Stage]:
    out = [Stage.train]
    if builds_index(spec):
        out.append(Stage.build_index)
    if serves(spec):
        out.append(Stage.serve)
    return out


def completion_files(stage: Stage, spec: DialogModelSpec) -> tuple[str, ...]:
    """Files (relative to the version's directory) whose presence means `stage` finished for this
    version; written last by the stage, atomically. Serving has none: it is done while it answers."""
    if stage == Stage.train:
        return ("export/manifest.json", "metrics.json")
    if stage == Stage.build_index:
        return (f"index/{index_version(spec)}/index.json",)
    return ()


@dataclass(frozen=True)
class Done:
    """What the artifact layout already holds for this model version."""

    trained: bool
    indexed: bool


def pending(spec: DialogModelSpec, done: Done) -> list[Stage]:
    """Stages still to run, in order. Serving always runs (it is the foreground process); an index
    is trusted only beside a finished training of the same version."""
    finished = {Stage.train: done.trained, Stage.build_index: done.trained and done.indexed}
    return [s for s in stages(spec) if not finished.get(s, False)]
