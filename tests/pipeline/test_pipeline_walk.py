"""Every task walked through the operator's planner and through local mode's runner: both report
the same phases, conditions and reasons, the ones rejoinder/pipeline defines (`walk`).

The operator side plans against observed children that finish at once (a Job Complete, a
Deployment fully available); the local side runs `up` with its subprocesses replaced by stand-ins
that succeed at once. Each side is read from the status it writes (the DialogModel's status,
status.json) and grouped into steps: a phase entered with the condition changes since the last.
In-stage detail (TrainingStep, JobRunning, a rollout's progress) is the operator's alone and
does not occur here.
"""

from __future__ import annotations

import copy
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from rejoinder.api import parse_dialog_model
from rejoinder.api.status import ConditionType, DialogModelStatus, Phase
from rejoinder.local import runner, state, supervisor
from rejoinder.local.commands import Endpoint, stage_argv
from rejoinder.operator import children
from rejoinder.operator.children import ParsedDialogModel
from rejoinder.operator.planner import Observed, plan
from rejoinder.operator.settings import OperatorSettings
from rejoinder.pipeline.stages import Stage, stages
from rejoinder.pipeline.transitions import Mark, Step, walk

NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=timezone.utc)
SETTINGS = OperatorSettings(trainer_image="trainer:1", model_server_image="server:1")
END = {Phase.Serving, Phase.Trained, Phase.Failed, Phase.Degraded}

CASES = {
    "retrieval": {"task": "retrieval"},
    "retrieval-not-served": {"task": "retrieval", "serving": {"enabled": False}},
    "reranking": {"task": "reranking"},
    "reranking-not-served": {"task": "reranking", "serving": {"enabled": False}},
    "session-scoring": {"task": "session-scoring"},
    "session-scoring-not-served": {"task": "session-scoring", "serving": {"enabled": False}},
    "pretraining": {"task": "pretraining", "serving": {"enabled": False}},
}


def _wire(case: dict[str, Any], storage: str, pvc: bool) -> dict[str, Any]:
    spec = {"data": {"preset": "chatterbot"}, "training": {"gpusPerWorker": 0, "steps": 10},
            "storage": {"path": storage, **({"persistentVolumeClaim": "pvc"} if pvc else {})}, **case}
    return {"apiVersion": "rejoinder.dev/v1alpha1", "kind": "DialogModel", "metadata": {"name": "m"}, "spec": spec}


def steps_of(statuses: list[dict[str, Any]]) -> list[Step]:
    """Group a sequence of written statuses into steps, up to the first end phase."""
    out: list[Step] = []
    before: dict[str, tuple[str, str]] = {}
    changed: set[Mark] = set()
    phase = None
    for status in statuses:
        now = {c["type"]: (c["status"], c["reason"]) for c in status.get("conditions") or []}
        changed |= {Mark(ConditionType(t), s == "True", r) for t, (s, r) in now.items() if before.get(t) != (s, r)}
        before = now
        if status.get("phase") != phase:
            phase = status.get("phase")
            out.append(Step(Phase(phase), frozenset(changed)))
            changed = set()
            if Phase(phase) in END:
                break
    return out


def _finished(obj: dict[str, Any]) -> dict[str, Any]:
    """What the Job or Deployment controller reports once the object has done its work."""
    obj = copy.deepcopy(obj)
    if obj["kind"] == "Job":
        obj["status"] = {"conditions": [{"type": "Complete", "status": "True"}]}
    elif obj["kind"] == "Deployment":
        obj["metadata"]["generation"] = 1
        n = obj["spec"].setdefault("replicas", 1)
        obj["status"] = {"observedGeneration": 1, "replicas": n, "updatedReplicas": n, "readyReplicas": n,
                         "availableReplicas": n}
    return obj


def operator_walk(case: dict[str, Any]) -> list[Step]:
    model = parse_dialog_model(_wire(case, "/data", pvc=True))
    m = ParsedDialogModel(name="m", namespace="ns", uid="uid-1", spec=model.spec)
    status, jobs, config_maps, single = DialogModelStatus(), {}, {}, {}
    written: list[dict[str, Any]] = []
    for _ in range(10):
        p = plan(m, status, Observed(jobs=jobs, config_maps=config_maps, deployment=single.get("Deployment"),
                                     service=single.get("Service"), pdb=single.get("PodDisruptionBudget")),
                 SETTINGS, NOW)
        written.append(p.status)
        status = DialogModelStatus.model_validate({k: v for k, v in p.status.items() if v is not None})
        for obj in p.create + p.patch:
            name = obj["metadata"]["name"]
            if obj["kind"] == "Job":
                jobs[name] = _finished(obj)
            elif obj["kind"] == "ConfigMap":
                config_maps[name] = obj
            else:
                single[obj["kind"]] = _finished(obj)
        if status.phase in END:
            break
    return steps_of(written)


class _Server:
    """Stands in for the guarded model server: up waits for it, then it exits."""

    pid = 0
    returncode = 0

    def poll(self) -> int:
        return 0

    def wait(self, timeout: float | None = None) -> int:
        return 0


def local_walk(case: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[list[Step], list[list[str]]]:
    written: list[dict[str, Any]] = []
    commands: list[list[str]] = []
    monkeypatch.setattr(state, "save", lambda root, status: written.append(status.to_wire()))
    monkeypatch.setattr(runner, "_run_stage", lambda argv, log_file, reporter: commands.append(argv))
    monkeypatch.setattr(supervisor, "spawn", lambda argv, **popen: commands.append(argv) or _Server())
    monkeypatch.setattr(runner, "wait_serving", lambda proc, endpoint, instance, timeout: None)
    monkeypatch.setattr(supervisor, "ports_in_use", lambda host, ports: [])
    model = parse_dialog_model(_wire(case, str(tmp_path / "artifacts"), pvc=False))
    runner.up(model, port=18500, metrics_port=19090, use_horovod=False)
    return steps_of(written), commands


@pytest.mark.parametrize("name", sorted(CASES))
def test_operator_and_local_mode_report_the_same_pipeline(name: str, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    case = CASES[name]
    expected = walk(parse_dialog_model(_wire(case, "/data", pvc=True)).spec)
    assert operator_walk(case) == expected
    local, commands = local_walk(case, tmp_path, monkeypatch)
    assert local == expected
    # the same stages ran, each with its verb (train, build-index, serve)
    spec = parse_dialog_model(_wire(case, "/data", pvc=True)).spec
    assert [argv[argv.index("-f") - 1] for argv in commands] == [s.value for s in stages(spec)]


def test_the_walk_ends_as_a_deployment_does() -> None:
    """Serving ends with Progressing=True (a Deployment's NewReplicaSetAvailable), not False."""
    spec = parse_dialog_model(_wire(CASES["retrieval"], "/data", pvc=True)).spec
    last = walk(spec)[-1]
    assert last.phase == Phase.Serving
    assert Mark(ConditionType.Progressing, True, "NewVersionAvailable") in last.marks
    assert Mark(ConditionType.Available, True, "ReplicasAvailable") in last.marks
    assert [s.phase for s in walk(spec)] == [Phase.Training, Phase.Indexing, Phase.RollingOut, Phase.Serving]


def test_pods_and_local_mode_run_the_same_command_lines() -> None:
    """The operator's commands and local mode's differ only in how `rejoinder` is called, where
    the spec file is and the local endpoint."""
    spec = parse_dialog_model(_wire({"task": "retrieval", "training": {"gpusPerWorker": 2, "controller": "gloo"}},
                                    "/data", pvc=True)).spec
    m = ParsedDialogModel(name="m", namespace="ns", uid="uid-1", spec=spec)
    local = {s: stage_argv(s, Path(children.names.SPEC_FILE), version="v-1", endpoint=Endpoint("0.0.0.0", 8500, 9090),
                           horovodrun="horovodrun", processes=2) for s in Stage}

    def tail(argv: list[str]) -> list[str]:
        return argv[argv.index("-f") - 1:]

    pod = children.training_job(m, "v-1", SETTINGS)["spec"]["template"]["spec"]["containers"][0]["command"]
    assert tail(pod) == tail(local[Stage.train]) and pod[:3] == local[Stage.train][:3] == ["horovodrun", "-np", "2"]
    index = children.index_job(m, "v-1", "i-1", SETTINGS)["spec"]["template"]["spec"]["containers"][0]["command"]
    assert tail(index) == tail(local[Stage.build_index])
    assert tail(children.serve_command("v-1")) == tail(local[Stage.serve])
