"""The operator's decisions against the rules a real kube-apiserver and real controllers enforce
(issue 11): finite numbers only, status maps replaced, valid child names, GPU pods' /dev/shm,
quantities compared by value, opaque resourceVersions, training pods that survive spot nodes."""

from __future__ import annotations

import copy
import json
import math
from datetime import timedelta
from typing import Any

import pytest
from k8s_emulator.admission import dns1035_label, dns1123_subdomain, label_value, admit_builtin
from k8s_emulator.emulator import _merge_patch  # the apiserver's JSON merge patch, as the emulator applies it

from rejoinder.api.status import DialogModelStatus
from rejoinder.api.versioning import model_version
from rejoinder.operator import children, kube, names
from rejoinder.operator.planner import Observed, is_subset, plan, status_patch
from tests.operator.test_operator_planner import (
    NOW, SETTINGS, by_kind, cond, job_done, model, serving_model, spec, stamped)


# --- point 2: no NaN or Infinity in any API body -------------------------------------------------


def finished_training(log: str, **spec_overrides: Any):
    m = model(spec(**spec_overrides))
    job = plan(m, DialogModelStatus(), Observed(), SETTINGS, NOW).create[1]
    return m, plan(m, DialogModelStatus(), Observed(jobs={job["metadata"]["name"]: job_done(job)}, training_log=log),
                   SETTINGS, NOW)


def test_non_finite_metrics_mean_training_diverged_and_never_reach_the_api() -> None:
    _, p = finished_training('REJOINDER_PROGRESS step=100 total=100 loss=inf\nREJOINDER_METRICS {"recall@5": NaN, "map": 0.5}\n')
    json.dumps(p.status, allow_nan=False)  # would raise on NaN/Infinity
    trained = cond(p, "Trained")
    assert trained["status"] == "False" and trained["reason"] == "TrainingDiverged"
    assert "recall@5" in trained["message"] and "loss" in trained["message"]
    assert p.status["phase"] == "Failed" and p.status["trainedVersion"] is None
    assert cond(p, "Degraded")["reason"] == "TrainingDiverged"


def test_an_infinite_loss_while_training_is_reported_not_written() -> None:
    m = model()
    job = plan(m, DialogModelStatus(), Observed(), SETTINGS, NOW).create[1]
    running = stamped(job)
    running["status"] = {"active": 1}
    p = plan(m, DialogModelStatus(), Observed(jobs={job["metadata"]["name"]: running},
                                              training_log="REJOINDER_PROGRESS step=40 total=100 loss=inf examples_per_sec=5\n"),
             SETTINGS, NOW)
    json.dumps(p.status, allow_nan=False)
    assert p.status["training"]["step"] == 40 and "loss" not in p.status["training"]
    assert cond(p, "Trained")["reason"] == "TrainingDiverged" and "diverged" in cond(p, "Trained")["message"]


def test_every_request_body_is_serialised_without_nan() -> None:
    with pytest.raises(ValueError):
        kube.encode_body({"status": {"training": {"loss": math.inf}}})
    assert json.loads(kube.encode_body({"a": 1.5})) == {"a": 1.5}


# --- point 3: status maps are replaced, not merged -----------------------------------------------


def test_a_version_without_the_gate_metric_stays_refused_across_resyncs() -> None:
    """v1 serves with recall@5; v2 reports no recall@5: refused, and still refused at every resync
    (with merged status maps it inherited v1's recall@5 and passed the gate at the next one)."""
    rollout = {"qualityGate": {"metric": "recall@5", "maxRegression": 0.02}}
    _, st, obs = serving_model({"recall@5": 0.6}, rollout=rollout)
    m2 = model(spec(training={"steps": 200}, rollout=rollout))
    jobs = dict(obs["jobs"])
    stored = st.to_wire()  # what the apiserver holds; each reconcile's status patch is merged into it
    reasons = []
    for _ in range(6):
        p = plan(m2, DialogModelStatus.model_validate({k: v for k, v in stored.items() if v is not None}),
                 Observed(jobs=jobs, config_maps=obs["config_maps"], deployment=obs["deployment"],
                          training_log='REJOINDER_METRICS {"map": 0.7}\n'), SETTINGS, NOW)
        for o in by_kind(p.create, "Job"):
            jobs[o["metadata"]["name"]] = job_done(o)
        stored = _merge_patch(stored, status_patch(stored, p.status))
        assert not by_kind(p.patch, "Deployment"), f"rolled out on the old version's number: {stored['metrics']}"
        reasons.append(cond(p, "Degraded")["reason"])
    assert stored["trainedVersion"] == model_version(m2.spec) and stored["metrics"] == {"map": 0.7}
    assert reasons[-3:] == ["MetricsMissing"] * 3


def test_status_patch_nulls_keys_that_are_gone() -> None:
    old = {"metrics": {"recall@5": 0.6, "map": 0.5}, "training": {"step": 5, "loss": 1.0}, "phase": "Serving"}
    new = {"metrics": {"map": 0.7}, "training": {"step": 0}, "phase": "Training"}
    patch = status_patch(old, new)
    assert patch["metrics"] == {"recall@5": None, "map": 0.7}
    assert _merge_patch(old, patch) == new


# --- point 4: valid child names for every name the CRD accepts -----------------------------------

CRD_NAMES = ["a", "1abc", "9" * 63, "m" * 63, "a-" * 31 + "b", "x" * 40, "0-0"]


def _name_problems(kind: str, name: str) -> list[str]:
    if kind == "Service":
        return dns1035_label(name)
    problems = dns1123_subdomain(name)
    if kind == "Job":
        problems += label_value(name)  # the pods' job-name label
    if kind == "MPIJob":  # mpi-operator's launcher Job, worker pods (hostnames) and Services
        for child in (f"{name}-launcher", f"{name}-worker", f"{name}-worker-{10 ** names.MPI_WORKER_INDEX_DIGITS - 1}"):
            problems += [f"{child}: {p}" for p in dns1035_label(child)]
    return problems


@pytest.mark.parametrize("model_name", CRD_NAMES)
def test_every_child_name_is_valid_for_every_name_the_crd_accepts(model_name: str) -> None:
    v, i = "v-0123456789ab", "i-0123456789ab"
    names_by_kind = {
        "ConfigMap": [names.spec_config_map(model_name, v, "0123456789abcdef")],
        "Job": [names.training_job(model_name, v), names.index_job(model_name, i),
                names.cleanup_job(model_name, "0c7e1d2a-9f3b-4c1d-8e2f-123456789abc")],
        "MPIJob": [names.mpi_job(model_name, v)],
        "Service": [names.server(model_name)],
    }
    for kind, made in names_by_kind.items():
        for name in made:
            assert not _name_problems(kind, name), f"{kind} {name}: {_name_problems(kind, name)}"
    assert names.mpi_job(model_name, v) != names.mpi_job(model_name + "x" if len(model_name) < 63 else model_name[:-1], v)


def test_names_of_digit_led_models_do_not_collide_with_m_prefixed_ones() -> None:
    assert names.server("1abc") != names.server("m1abc")
    assert names.mpi_job("1abc", "v-1") != names.mpi_job("m1abc", "v-1")


def test_an_mpijob_that_never_gets_a_condition_times_out_with_a_reason() -> None:
    m = model(spec(training={"workers": 2}))
    mpi = by_kind(plan(m, DialogModelStatus(), Observed(), SETTINGS, NOW).create, "MPIJob")[0]
    created = stamped(mpi)
    created["metadata"]["creationTimestamp"] = NOW.strftime("%Y-%m-%dT%H:%M:%SZ")
    observed = Observed(mpijobs={mpi["metadata"]["name"]: created})
    assert plan(m, DialogModelStatus(), observed, SETTINGS, NOW + timedelta(minutes=2)).status["phase"] == "Training"
    late = plan(m, DialogModelStatus(), observed, SETTINGS, NOW + timedelta(minutes=11))
    assert late.status["phase"] == "Failed"
    assert "MPIJobNotStarted" in cond(late, "Trained")["message"]
    assert "kubectl describe mpijob" in cond(late, "Trained")["message"]


# --- point 5: /dev/shm on GPU pods ------------------------------------------------------------------


def _shm(pod_spec: dict[str, Any]) -> bool:
    volumes = {v["name"]: v for v in pod_spec.get("volumes", [])}
    return all(any(mnt["mountPath"] == "/dev/shm" and volumes[mnt["name"]].get("emptyDir", {}).get("medium") == "Memory"
                   for mnt in c.get("volumeMounts", [])) for c in pod_spec["containers"])


def test_gpu_training_and_serving_pods_get_a_memory_backed_dev_shm() -> None:
    m = model(spec(serving={"gpus": 1}))
    v = model_version(m.spec)
    assert _shm(children.training_job(m, v, SETTINGS)["spec"]["template"]["spec"])
    mpi = children.mpi_job(model(spec(training={"workers": 2})), v, SETTINGS)
    assert _shm(mpi["spec"]["mpiReplicaSpecs"]["Worker"]["template"]["spec"])
    dep = children.server_deployment(m, v, 1, SETTINGS, {}, "h")
    assert _shm(dep["spec"]["template"]["spec"])
    cpu = model(spec(training={"gpusPerWorker": 0}))
    assert not _shm(children.training_job(cpu, v, SETTINGS)["spec"]["template"]["spec"])


# --- point 13: no endless patches ---------------------------------------------------------------------


def test_quantities_normalised_by_the_apiserver_cause_no_patch() -> None:
    m = model(spec(serving={"resources": {"requests": {"cpu": "0.5", "memory": "1.5Gi"}, "limits": {"memory": "2048Mi"}}}))
    v = model_version(m.spec)
    desired = children.server_deployment(m, v, 1, SETTINGS, {}, "h")
    stored = copy.deepcopy(desired)
    assert not admit_builtin("apps", "deployments", stored)  # the emulator's normalisation, as the apiserver's
    resources = stored["spec"]["template"]["spec"]["containers"][0]["resources"]
    assert resources == {"requests": {"cpu": "500m", "memory": "1536Mi"}, "limits": {"memory": "2Gi"}}
    assert is_subset(desired, stored)
    resources["requests"]["cpu"] = "600m"
    assert not is_subset(desired, stored)
    assert not is_subset({"metadata": {"labels": {"v": "1"}}}, {"metadata": {"labels": {"v": "1.0"}}})


def test_resource_versions_are_opaque() -> None:
    from rejoinder.operator import staleness

    written = staleness.Written("opaque-b", {"phase": "Training", "trainedVersion": None})
    lagging = {"metadata": {"resourceVersion": "opaque-a"}, "status": {"phase": "Pending"}}
    assert staleness.newest_status(lagging, written) == ({"phase": "Training", "trainedVersion": None}, True)
    caught_up = {"metadata": {"resourceVersion": "opaque-b"}, "status": {"phase": "Training", "rps": 1.0}}
    assert staleness.newest_status(caught_up, written) == ({"phase": "Training", "rps": 1.0}, False)
    newer = {"metadata": {"resourceVersion": "opaque-c"}, "status": {"phase": "Training", "trainedVersion": None, "x": 1}}
    assert staleness.newest_status(newer, written)[1] is False


# --- point 14: training pods ----------------------------------------------------------------------------


def test_training_pods_survive_spot_evictions_and_avoid_recursive_chowns() -> None:
    m = model()
    v = model_version(m.spec)
    job = children.training_job(m, v, SETTINGS)
    assert job["spec"]["podFailurePolicy"] == {
        "rules": [{"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]}]}
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"  # podFailurePolicy requires it
    assert job["spec"]["template"]["spec"]["securityContext"]["fsGroupChangePolicy"] == "OnRootMismatch"
    assert not admit_builtin("batch", "jobs", copy.deepcopy(job))


def test_final_metrics_come_from_the_termination_message_when_the_log_lost_them() -> None:
    m = model()
    job = plan(m, DialogModelStatus(), Observed(), SETTINGS, NOW).create[1]
    pod = {"metadata": {"name": "p", "labels": job["spec"]["template"]["metadata"]["labels"]},
           "status": {"phase": "Succeeded", "containerStatuses": [{"name": "trainer", "state": {"terminated": {
               "exitCode": 0, "message": 'REJOINDER_METRICS {"recall@5": 0.61}'}}}]}}
    nccl_noise = "NCCL INFO ...\n" * 50
    p = plan(m, DialogModelStatus(), Observed(jobs={job["metadata"]["name"]: job_done(job)}, pods=[pod],
                                              training_log=nccl_noise), SETTINGS, NOW)
    assert p.status["metrics"] == {"recall@5": 0.61}


def test_the_trainer_writes_its_metrics_line_to_the_termination_log(tmp_path: Any, capsys: Any) -> None:
    from rejoinder.training.progress import report_metrics

    target = tmp_path / "termination-log"
    target.write_text("")
    report_metrics({"recall@5": 0.5}, termination_log=str(target))
    assert target.read_text() == 'REJOINDER_METRICS {"recall@5": 0.5}'
    assert capsys.readouterr().out.strip() == 'REJOINDER_METRICS {"recall@5": 0.5}'


# --- point 9: a refused child is a condition, retried only when it changed or after a while -----------


def test_a_refused_child_is_reported_and_not_recreated_until_it_changes_or_the_retry_is_due() -> None:
    from rejoinder.operator import rejections

    m = model()
    job = by_kind(plan(m, DialogModelStatus(), Observed(), SETTINGS, NOW).create, "Job")[0]
    refusal = rejections.Rejection(children.content_hash(job), 422, "Invalid",
                                   'Job.batch "x" is invalid: spec.template.spec.tolerations[0].operator: Unsupported value', NOW)
    observed = Observed(rejected={("Job", job["metadata"]["name"]): refusal})
    p = plan(m, DialogModelStatus(), observed, SETTINGS, NOW + timedelta(seconds=30))
    assert not by_kind(p.create, "Job")
    trained = cond(p, "Trained")
    assert trained["reason"] == "ChildRejected" and "422 Invalid" in trained["message"] and "tolerations" in trained["message"]
    assert p.status["phase"] == "Failed" and cond(p, "Degraded")["reason"] == "ChildRejected"
    assert any(e.reason == "ChildRejected" and e.warning for e in p.events)
    assert by_kind(plan(m, DialogModelStatus(), observed, SETTINGS, NOW + rejections.RETRY_AFTER).create, "Job")
    changed = model(spec(training={"steps": 100, "backoffLimit": 5}))
    assert by_kind(plan(changed, DialogModelStatus(), observed, SETTINGS, NOW + timedelta(seconds=30)).create, "Job")
