"""The planner without Kubernetes: spec + observed children in, desired children + status out."""

from __future__ import annotations

import copy
import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from rejoinder.api.spec import DialogModelSpec
from rejoinder.api.status import DialogModelStatus
from rejoinder.api.versioning import index_version, model_version
from rejoinder.operator import names
from rejoinder.operator.children import ParsedDialogModel, content_hash
from rejoinder.operator.planner import (
    REACTIONS_SETTLE,
    Observed,
    Plan,
    is_subset,
    plan,
    start_gain_refusal,
    status_patch,
)
from rejoinder.operator.security import pod_spec_problems
from rejoinder.operator.settings import OperatorSettings

NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=timezone.utc)
SETTINGS = OperatorSettings(trainer_image="trainer:1", model_server_image="server:1")


def spec(**overrides: Any) -> DialogModelSpec:
    wire: dict[str, Any] = {
        "task": "retrieval", "data": {"preset": "chatterbot"},
        "storage": {"persistentVolumeClaim": "pvc", "path": "/data"},
        "training": {"steps": 100, "gpusPerWorker": 2},
    }
    for key, value in overrides.items():
        wire[key] = {**wire.get(key, {}), **value} if isinstance(value, dict) else value
    return DialogModelSpec.model_validate(wire)


def model(s: DialogModelSpec | None = None, name: str = "m") -> ParsedDialogModel:
    return ParsedDialogModel(name=name, namespace="ns", uid="uid-1", spec=s or spec())


def status(**fields: Any) -> DialogModelStatus:
    return DialogModelStatus.model_validate(fields)


def by_kind(objs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objs if o["kind"] == kind]


def cond(p: Plan, ctype: str) -> dict[str, Any]:
    return next(c for c in p.status["conditions"] if c["type"] == ctype)


def job_done(job: dict[str, Any], ok: bool = True) -> dict[str, Any]:
    job = copy.deepcopy(job)
    job["status"] = {"conditions": [{"type": "Complete" if ok else "Failed", "status": "True",
                                     "reason": None if ok else "BackoffLimitExceeded", "message": "boom"}]}
    return job


def stamped(obj: dict[str, Any], generation: int = 1) -> dict[str, Any]:
    obj = copy.deepcopy(obj)
    obj["metadata"]["generation"] = generation
    return obj


def rolled_out(dep: dict[str, Any], replicas: int | None = None) -> dict[str, Any]:
    dep = stamped(dep)
    dep["spec"].setdefault("replicas", 1)  # a patch leaves the replica count as it was
    n = replicas or dep["spec"]["replicas"]
    dep["status"] = {"observedGeneration": 1, "replicas": n, "updatedReplicas": n, "readyReplicas": n, "availableReplicas": n}
    return dep


def state_after(p: Plan) -> DialogModelStatus:
    return DialogModelStatus.model_validate({k: v for k, v in p.status.items() if v is not None})


# --- training ---------------------------------------------------------------------------------------


def test_new_model_creates_spec_config_map_and_training_job_with_gpus_and_volume() -> None:
    p = plan(model(), DialogModelStatus(), Observed(), SETTINGS, NOW)
    version = model_version(spec())
    [cm] = by_kind(p.create, "ConfigMap")
    [job] = by_kind(p.create, "Job")
    assert cm["metadata"]["name"].startswith(f"m-spec-{version.removeprefix('v-')}-")
    assert cm["metadata"]["name"] == names.spec_config_map("m", version, content_hash(cm["data"]))
    assert "kind: DialogModel" in cm["data"]["dialogmodel.yaml"]
    assert job["metadata"]["name"] == names.training_job("m", version)
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["horovodrun", "-np", "2", "rejoinder", "train", "-f", "/etc/rejoinder/dialogmodel.yaml"]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 2
    assert {"name": "artifacts", "mountPath": "/data"} in container["volumeMounts"]  # writable: no readOnly
    volumes = {v["name"]: v for v in job["spec"]["template"]["spec"]["volumes"]}
    assert volumes["artifacts"]["persistentVolumeClaim"]["claimName"] == "pvc"
    assert job["metadata"]["ownerReferences"][0]["uid"] == "uid-1"
    assert p.status["phase"] == "Training" and p.status["latestVersion"] == version
    assert cond(p, "Trained")["reason"] == "JobCreated"


def test_gloo_controller_and_cpu_training() -> None:
    s = spec(training={"gpusPerWorker": 0, "controller": "gloo"})
    [job] = by_kind(plan(model(s), DialogModelStatus(), Observed(), SETTINGS, NOW).create, "Job")
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["command"][:4] == ["horovodrun", "-np", "1", "--gloo"]
    assert "nvidia.com/gpu" not in json.dumps(container.get("resources", {}))


def test_several_workers_make_an_mpijob() -> None:
    s = spec(training={"workers": 3, "gpusPerWorker": 4, "activeDeadlineSeconds": 3600},
             )
    p = plan(model(s), DialogModelStatus(), Observed(), SETTINGS, NOW)
    [mpi] = by_kind(p.create, "MPIJob")
    assert not by_kind(p.create, "Job")
    assert mpi["apiVersion"] == "kubeflow.org/v2beta1"
    assert mpi["spec"]["slotsPerWorker"] == 4
    assert mpi["spec"]["launcherCreationPolicy"] == "WaitForWorkersReady"
    assert mpi["spec"]["runPolicy"]["activeDeadlineSeconds"] == 3600
    replicas = mpi["spec"]["mpiReplicaSpecs"]
    assert replicas["Worker"]["replicas"] == 3
    launcher = replicas["Launcher"]["template"]["spec"]["containers"][0]
    assert launcher["command"][:3] == ["mpirun", "-np", "12"]
    worker = replicas["Worker"]["template"]["spec"]["containers"][0]
    assert worker["resources"]["limits"]["nvidia.com/gpu"] == 4


def test_missing_mpijob_crd_is_a_clear_condition() -> None:
    s = spec(training={"workers": 2})
    p = plan(model(s), DialogModelStatus(), Observed(mpijob_supported=False), SETTINGS, NOW)
    assert not by_kind(p.create, "MPIJob")
    assert p.status["phase"] == "Failed"
    assert cond(p, "Trained")["reason"] == "MPIJobCRDMissing"
    assert "MPI Operator" in cond(p, "Trained")["message"]
    assert cond(p, "Degraded")["reason"] == "MPIJobCRDMissing"


def test_progress_comes_from_the_training_log() -> None:
    m = model()
    job = plan(m, DialogModelStatus(), Observed(), SETTINGS, NOW).create[1]
    running = stamped(job)
    running["status"] = {"active": 1}
    log = "noise\nREJOINDER_PROGRESS step=40 total=100 loss=0.75 examples_per_sec=512.5\n"
    p = plan(m, DialogModelStatus(), Observed(jobs={job["metadata"]["name"]: running}, training_log=log), SETTINGS, NOW)
    assert p.status["training"] == {"step": 40, "totalSteps": 100, "loss": 0.75, "examplesPerSecond": 512.5}
    assert cond(p, "Trained")["reason"] == "TrainingStep"
    assert "step 40 of 100" in p.status["message"]
    assert not by_kind(p.create, "Job") and not p.patch  # the Job exists: no second one


def test_unschedulable_training_pod_says_why() -> None:
    m = model()
    job = plan(m, DialogModelStatus(), Observed(), SETTINGS, NOW).create[1]
    pod = {"metadata": {"name": "p", "labels": job["spec"]["template"]["metadata"]["labels"]},
           "status": {"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                                                           "message": "0/3 nodes are available: 3 Insufficient nvidia.com/gpu."}]}}
    p = plan(m, DialogModelStatus(), Observed(jobs={job["metadata"]["name"]: stamped(job)}, pods=[pod]), SETTINGS, NOW)
    assert cond(p, "Trained")["reason"] == "WaitingForGPUNodes"
    assert "Insufficient nvidia.com/gpu" in cond(p, "Trained")["message"]


def test_failed_training_reports_the_last_log_lines() -> None:
    m = model()
    job = plan(m, DialogModelStatus(), Observed(), SETTINGS, NOW).create[1]
    log = "step\nTraceback (most recent call last):\nValueError: data/train.jsonl line 3: missing 'context'\n"
    p = plan(m, DialogModelStatus(), Observed(jobs={job["metadata"]["name"]: job_done(job, ok=False)}, training_log=log),
             SETTINGS, NOW)
    assert p.status["phase"] == "Failed"
    trained = cond(p, "Trained")
    assert trained["reason"] == "JobFailed"
    assert "BackoffLimitExceeded" in trained["message"] and "missing 'context'" in trained["message"]
    assert any(e.reason == "JobFailed" and e.warning for e in p.events)


def test_no_storage_is_refused_with_a_reason() -> None:
    s = DialogModelSpec.model_validate({"task": "retrieval", "data": {"preset": "chatterbot"}})
    p = plan(model(s), DialogModelStatus(), Observed(), SETTINGS, NOW)
    assert p.status["phase"] == "Failed" and cond(p, "Trained")["reason"] == "NoStorage"
    assert not p.create


# --- the whole pipeline -----------------------------------------------------------------------------


def run_pipeline(m: ParsedDialogModel, st: DialogModelStatus, obs: dict[str, Any], metrics: dict[str, float],
                 serving_dep: dict[str, Any] | None = None) -> tuple[DialogModelStatus, dict[str, Any]]:
    """Train, index and roll out the spec's version; returns (status, observed children)."""
    version = model_version(m.spec)
    jobs = dict(obs.get("jobs", {}))
    cms = dict(obs.get("config_maps", {}))
    p = plan(m, st, Observed(jobs=jobs, config_maps=cms, deployment=serving_dep), SETTINGS, NOW)
    for o in p.create:
        if o["kind"] == "Job":
            jobs[o["metadata"]["name"]] = job_done(o)
        elif o["kind"] == "ConfigMap":
            cms[o["metadata"]["name"]] = o
    log = f"REJOINDER_METRICS {json.dumps(metrics)}\n"
    st = state_after(p)
    p = plan(m, st, Observed(jobs=jobs, config_maps=cms, deployment=serving_dep, training_log=log), SETTINGS, NOW)
    assert p.status["trainedVersion"] == version
    for o in p.create:
        if o["kind"] == "Job":
            jobs[o["metadata"]["name"]] = job_done(o)
    st = state_after(p)
    p = plan(m, st, Observed(jobs=jobs, config_maps=cms, deployment=serving_dep), SETTINGS, NOW)
    return state_after(p), {"jobs": jobs, "config_maps": cms, "plan": p}


def test_train_index_deploy_serve() -> None:
    m = model()
    st, obs = run_pipeline(m, DialogModelStatus(), {}, {"recall@5": 0.6})
    p = obs["plan"]
    [dep] = by_kind(p.create, "Deployment")
    svc, headless = by_kind(p.create, "Service")
    [pdb] = by_kind(p.create, "PodDisruptionBudget")
    version = model_version(m.spec)
    assert st.phase.value == "RollingOut"
    assert headless["metadata"]["name"] == "m-headless" and headless["spec"]["clusterIP"] == "None"
    assert headless["spec"]["selector"] == svc["spec"]["selector"]
    c = dep["spec"]["template"]["spec"]["containers"][0]
    assert c["command"] == ["rejoinder", "serve", "-f", "/etc/rejoinder/dialogmodel.yaml", "--version", version,
                            "--host", "0.0.0.0", "--port", "8500", "--metrics-port", "9090"]
    assert c["readinessProbe"]["grpc"] == {"port": 8500, "service": "rejoinder.serving.v1.DialogService"}
    assert c["livenessProbe"]["grpc"]["port"] == 8500
    assert c["lifecycle"]["preStop"]["sleep"]["seconds"] > 0
    assert dep["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    assert {p["port"] for p in svc["spec"]["ports"]} == {8500, 9090}
    assert pdb["spec"]["maxUnavailable"] == 1
    # the Deployment controller reports every replica available → Serving with an endpoint
    p = plan(m, st, Observed(jobs=obs["jobs"], config_maps=obs["config_maps"], deployment=rolled_out(dep),
                             service=svc, pdb=pdb), SETTINGS, NOW)
    assert p.status["phase"] == "Serving"
    assert p.status["servingVersion"] == version == p.status["lastGoodVersion"]
    assert p.status["endpoint"] == "m-server.ns.svc:8500"
    assert cond(p, "Available")["status"] == "True"
    # and then nothing changes: an unchanged spec does nothing
    dep2 = rolled_out({**dep, "metadata": {**dep["metadata"], "annotations": p.patch[0]["metadata"]["annotations"]}}) \
        if p.patch else rolled_out(dep)
    st2 = state_after(p)
    p2 = plan(m, st2, Observed(jobs=obs["jobs"], config_maps=obs["config_maps"], deployment=dep2, service=svc, pdb=pdb,
                               headless_service=headless), SETTINGS, NOW + timedelta(seconds=5))
    assert not p2.create and not p2.patch and not p2.delete
    assert status_patch(p.status, p2.status) == {}
    assert not p2.events


def serving_model(metrics: dict[str, float], **spec_overrides: Any) -> tuple[ParsedDialogModel, DialogModelStatus, dict[str, Any]]:
    m = model(spec(**spec_overrides))
    st, obs = run_pipeline(m, DialogModelStatus(), {}, metrics)
    [dep] = by_kind(obs["plan"].create, "Deployment")
    p = plan(m, st, Observed(jobs=obs["jobs"], config_maps=obs["config_maps"], deployment=rolled_out(dep)), SETTINGS, NOW)
    dep = rolled_out(p.patch[0]) if p.patch else rolled_out(dep)
    obs["deployment"] = dep
    return m, state_after(p), obs


def test_training_change_trains_a_new_version_while_the_old_one_serves() -> None:
    m1, st, obs = serving_model({"recall@5": 0.6})
    v1 = st.serving_version
    m2 = model(spec(training={"steps": 200}))
    v2 = model_version(m2.spec)
    assert v2 != v1
    p = plan(m2, st, Observed(jobs=obs["jobs"], config_maps=obs["config_maps"], deployment=obs["deployment"]), SETTINGS, NOW)
    assert [j["metadata"]["name"] for j in by_kind(p.create, "Job")] == [names.training_job("m", v2)]
    assert not by_kind(p.patch, "Deployment")  # v1 keeps serving, untouched
    assert p.status["phase"] == "Training" and p.status["servingVersion"] == v1
    assert cond(p, "Available")["status"] == "True"
    assert f"serving {v1}" in p.status["message"]


def test_serving_only_change_updates_the_deployment_without_training() -> None:
    m1, st, obs = serving_model({"recall@5": 0.6})
    m2 = model(spec(serving={"resources": {"requests": {"cpu": "2"}}}))
    assert model_version(m2.spec) == st.serving_version
    p = plan(m2, st, Observed(jobs=obs["jobs"], config_maps=obs["config_maps"], deployment=obs["deployment"]), SETTINGS, NOW)
    assert not by_kind(p.create, "Job")
    [dep] = by_kind(p.patch, "Deployment")
    assert dep["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]["cpu"] == "2"
    # pods read serving settings from the spec ConfigMap: a new one (ConfigMaps are immutable)
    [cm] = by_kind(p.create, "ConfigMap")
    assert dep["spec"]["template"]["spec"]["volumes"][0]["configMap"]["name"] == cm["metadata"]["name"]


def new_version_rolling_out(metrics_v2: dict[str, float], gate: dict[str, Any] | None = None):
    rollout = {"qualityGate": gate} if gate else {}
    m1, st, obs = serving_model({"recall@5": 0.6}, rollout=rollout)
    m2 = model(spec(training={"steps": 200}, rollout=rollout))
    jobs = dict(obs["jobs"])
    st2, obs2 = run_pipeline(m2, st, {"jobs": jobs, "config_maps": obs["config_maps"]}, metrics_v2,
                             serving_dep=obs["deployment"])
    return m2, st2, obs2, obs["deployment"]


def test_new_version_rolls_out_then_misses_its_deadline_and_is_rolled_back() -> None:
    m2, st, obs, dep_v1 = new_version_rolling_out({"recall@5": 0.65})
    v1, v2 = st.serving_version, model_version(m2.spec)
    [dep] = by_kind(obs["plan"].patch, "Deployment")
    assert dep["metadata"]["annotations"][names.ANN_VERSION] == v2
    assert st.phase.value == "RollingOut"
    stuck = stamped(dep, generation=2)
    stuck["status"] = {"observedGeneration": 2, "replicas": 2, "updatedReplicas": 1, "availableReplicas": 1}
    p = plan(m2, st, Observed(jobs=obs["jobs"], config_maps=obs["config_maps"], deployment=stuck), SETTINGS,
             NOW + timedelta(seconds=30))
    assert p.status["phase"] == "RollingOut" and "1 of 1 new replicas updated" not in p.status["message"]
    # past spec.rollout.progressDeadlineSeconds (600 s) by the operator's own clock
    p = plan(m2, st, Observed(jobs=obs["jobs"], config_maps=obs["config_maps"], deployment=stuck), SETTINGS,
             NOW + timedelta(seconds=601))
    [rollback] = by_kind(p.patch, "Deployment")
    assert rollback["metadata"]["annotations"][names.ANN_VERSION] == v1
    assert v1 in rollback["spec"]["template"]["spec"]["containers"][0]["command"]
    assert p.status["phase"] == "Degraded" and p.status["failedVersion"] == v2
    assert p.status["servingVersion"] == v1
    assert cond(p, "Degraded")["reason"] == "RolledBack"
    # afterwards the failed version is not rolled out again
    st3 = state_after(p)
    back = rolled_out(stamped(rollback, 3))
    back["status"]["observedGeneration"] = 3
    p = plan(m2, st3, Observed(jobs=obs["jobs"], config_maps=obs["config_maps"], deployment=back), SETTINGS,
             NOW + timedelta(seconds=700))
    assert not by_kind(p.patch, "Deployment") and p.status["phase"] == "Degraded"
    assert cond(p, "Available")["status"] == "True"


def test_deployment_controller_deadline_condition_also_rolls_back() -> None:
    m2, st, obs, _ = new_version_rolling_out({"recall@5": 0.65})
    [dep] = by_kind(obs["plan"].patch, "Deployment")
    stuck = stamped(dep, generation=2)
    stuck["status"] = {"observedGeneration": 2, "conditions": [
        {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded", "message": "timed out"}]}
    p = plan(m2, st, Observed(jobs=obs["jobs"], config_maps=obs["config_maps"], deployment=stuck), SETTINGS, NOW)
    assert p.status["failedVersion"] == model_version(m2.spec)
    assert by_kind(p.patch, "Deployment")[0]["metadata"]["annotations"][names.ANN_VERSION] == st.serving_version


@pytest.mark.parametrize("new_value,refused", [(0.55, True), (0.59, False), (0.7, False)])
def test_quality_gate(new_value: float, refused: bool) -> None:
    gate = {"metric": "recall@5", "maxRegression": 0.02}
    m2, st, obs, dep_v1 = new_version_rolling_out({"recall@5": new_value}, gate=gate)
    patched = by_kind(obs["plan"].patch, "Deployment")
    if refused:
        assert not patched
        assert st.phase.value == "Degraded"
        degraded = next(c for c in st.conditions if c.type.value == "Degraded")
        assert degraded.reason == "QualityGateFailed" and "0.5500" in degraded.message and "0.6000" in degraded.message
    else:
        assert patched[0]["metadata"]["annotations"][names.ANN_VERSION] == model_version(m2.spec)


def test_pretraining_is_trained_not_served() -> None:
    s = spec(task="pretraining", serving={"enabled": False}, rollout={})
    m = model(s)
    p = plan(m, DialogModelStatus(), Observed(), SETTINGS, NOW)
    [job] = by_kind(p.create, "Job")
    p = plan(m, state_after(p), Observed(jobs={job["metadata"]["name"]: job_done(job)},
                                         training_log='REJOINDER_METRICS {"mlm_accuracy": 0.4}'), SETTINGS, NOW)
    assert p.status["phase"] == "Trained"
    assert not by_kind(p.create, "Deployment") and not by_kind(p.create, "Job")


def test_waits_for_the_pretraining_model_it_starts_from() -> None:
    s = spec(model={"init": {"dialogModel": "pretrained"}}, task="reranking", rollout={})
    p = plan(model(s), DialogModelStatus(), Observed(init_model_trained=False), SETTINGS, NOW)
    assert p.status["phase"] == "Pending" and cond(p, "Trained")["reason"] == "WaitingForInitModel"
    assert not by_kind(p.create, "Job")


def test_a_reranker_waits_for_the_retrieval_model_it_mines_negatives_from() -> None:
    s = spec(task="reranking", data={"preset": "chatterbot", "negativesFrom": "chat-retrieval"}, rollout={})
    p = plan(model(s), DialogModelStatus(), Observed(negatives_model_trained=False), SETTINGS, NOW)
    assert p.status["phase"] == "Pending" and cond(p, "Trained")["reason"] == "WaitingForNegativesModel"
    assert "chat-retrieval" in cond(p, "Trained")["message"] and not by_kind(p.create, "Job")
    p = plan(model(s), DialogModelStatus(), Observed(negatives_model_trained=True), SETTINGS, NOW)
    assert by_kind(p.create, "Job")


def test_a_reranker_waits_for_the_retrieval_model_whose_reactions_it_trains_on() -> None:
    s = spec(task="reranking", data={"reactionsFrom": {"dialogModel": "chat-retrieval", "until": "2025-12-01T00:00:00Z"}},
             rollout={})
    p = plan(model(s), DialogModelStatus(), Observed(reactions_model_trained=False), SETTINGS, NOW)
    assert p.status["phase"] == "Pending" and cond(p, "Trained")["reason"] == "WaitingForReactionsModel"
    assert "chat-retrieval" in cond(p, "Trained")["message"] and not by_kind(p.create, "Job")
    p = plan(model(s), DialogModelStatus(), Observed(reactions_model_trained=True), SETTINGS, NOW)
    assert by_kind(p.create, "Job")


def test_a_reranker_on_users_reactions_waits_until_its_cutoff_has_passed() -> None:
    def at(now: datetime) -> Plan:
        s = spec(task="reranking", data={"reactionsFrom": {"dialogModel": "chat", "until": "2026-01-01T12:00:00Z"}},
                 rollout={})
        return plan(model(s), DialogModelStatus(), Observed(reactions_model_trained=True), SETTINGS, now)

    for now in (NOW - timedelta(hours=1), NOW + REACTIONS_SETTLE - timedelta(seconds=1)):
        p = at(now)
        assert cond(p, "Trained")["reason"] == "WaitingForReactionsCutoff" and not by_kind(p.create, "Job")
        assert "2026-01-01T12:00:00Z" in cond(p, "Trained")["message"] and p.status["phase"] == "Pending"
    assert by_kind(at(NOW + REACTIONS_SETTLE).create, "Job")


def test_old_versions_children_are_garbage_collected() -> None:
    m1, st, obs, = serving_model({"recall@5": 0.6})
    m2 = model(spec(training={"steps": 200}))
    m3 = model(spec(training={"steps": 300}))
    st2, obs2 = run_pipeline(m2, st, {"jobs": obs["jobs"], "config_maps": obs["config_maps"]}, {"recall@5": 0.6},
                             serving_dep=obs["deployment"])
    # spec changes again while v2 waits: v2's Jobs go, v1's (serving) stay
    p = plan(m3, st2, Observed(jobs=obs2["jobs"], config_maps=obs2["config_maps"], deployment=obs["deployment"]), SETTINGS, NOW)
    deleted = {r.name for r in p.delete}
    assert names.training_job("m", model_version(m2.spec)) in deleted
    assert names.index_job("m", index_version(m2.spec)) in deleted
    assert names.training_job("m", st.serving_version) not in deleted


def test_every_pod_spec_is_hardened() -> None:
    settings = SETTINGS
    from rejoinder.operator import children

    m = model(spec(training={"workers": 2}, storage={"keepOnDelete": False}))
    v = model_version(m.spec)
    templates = [
        children.training_job(m, v, settings)["spec"]["template"]["spec"],
        children.index_job(m, v, index_version(m.spec), settings)["spec"]["template"]["spec"],
        children.server_deployment(m, v, 1, settings, {}, "h")["spec"]["template"]["spec"],
        children.cleanup_job(m, settings)["spec"]["template"]["spec"],  # type: ignore[index]
    ]
    mpi = children.mpi_job(m, v, settings)["spec"]["mpiReplicaSpecs"]
    templates += [mpi["Launcher"]["template"]["spec"], mpi["Worker"]["template"]["spec"]]
    for pod in templates:
        assert pod_spec_problems(pod) == []
    assert pod_spec_problems({"containers": [{"name": "x"}]})  # the check itself can fail


def test_long_names_stay_within_63_characters_and_unique() -> None:
    long_a, long_b = "a" * 60 + "x", "a" * 60 + "y"
    v = "v-0123456789ab"
    assert len(names.training_job(long_a, v)) <= 63
    assert names.training_job(long_a, v) != names.training_job(long_b, v)
    assert names.server("1abc")[0].isalpha()


def test_is_subset() -> None:
    assert is_subset({"a": {"b": 1}}, {"a": {"b": 1, "c": 2}, "d": 3})
    assert not is_subset({"a": [1, 2]}, {"a": [1]})
    assert is_subset({"cpu": 1}, {"cpu": "1"})


def test_disabling_serving_removes_the_serving_children() -> None:
    m1, st, obs = serving_model({"recall@5": 0.6})
    m2 = model(spec(serving={"enabled": False}))
    svc = {"metadata": {"name": names.server("m")}}
    p = plan(m2, st, Observed(jobs=obs["jobs"], config_maps=obs["config_maps"], deployment=obs["deployment"],
                              service=svc, pdb=svc), SETTINGS, NOW)
    assert {(r.api_version, r.plural) for r in p.delete} >= {
        ("apps/v1", "deployments"), ("v1", "services"), ("policy/v1", "poddisruptionbudgets")}
    assert p.status["phase"] == "Trained" and p.status["servingVersion"] is None and p.status["endpoint"] is None


def test_replicas_belong_to_the_autoscaler_unless_out_of_bounds() -> None:
    m1, st, obs = serving_model({"recall@5": 0.6})
    scaled = copy.deepcopy(obs["deployment"])
    scaled["spec"]["replicas"] = 3
    m2 = model(spec(serving={"resources": {"requests": {"cpu": "2"}}}))
    [dep] = by_kind(plan(m2, st, Observed(jobs=obs["jobs"], config_maps=obs["config_maps"], deployment=scaled),
                         SETTINGS, NOW).patch, "Deployment")
    assert "replicas" not in dep["spec"]  # a patch for other reasons must not reset the autoscaler's count
    m3 = model(spec(serving={"maxReplicas": 2}))
    [dep] = by_kind(plan(m3, st, Observed(jobs=obs["jobs"], config_maps=obs["config_maps"], deployment=scaled),
                         SETTINGS, NOW).patch, "Deployment")
    assert dep["spec"]["replicas"] == 2  # the new bounds apply at once


# --- issue 11 (8): a failed training can be fixed ---------------------------------------------------


def failed_training(m: ParsedDialogModel) -> tuple[DialogModelStatus, dict[str, Any], dict[str, Any]]:
    """Plan until the version's training Job failed; returns (status, jobs, config maps)."""
    p = plan(m, DialogModelStatus(), Observed(), SETTINGS, NOW)
    jobs = {o["metadata"]["name"]: job_done(o, ok=False) for o in by_kind(p.create, "Job")}
    cms = {o["metadata"]["name"]: o for o in by_kind(p.create, "ConfigMap")}
    p = plan(m, state_after(p), Observed(jobs=jobs, config_maps=cms), SETTINGS, NOW)
    assert p.status["phase"] == "Failed" and cond(p, "Trained")["reason"] == "JobFailed"
    return state_after(p), jobs, cms


@pytest.mark.parametrize("fix", [
    {"image": "trainer:fixed"},
    {"resources": {"limits": {"memory": "64Gi"}}},
    {"backoffLimit": 5},
    {"activeDeadlineSeconds": 7200},
])
def test_fixing_a_failed_training_starts_a_new_attempt(fix: dict[str, Any]) -> None:
    m = model()
    st, jobs, cms = failed_training(m)
    first = names.training_job("m", model_version(m.spec))
    assert list(jobs) == [first]
    # the same spec again: still Failed, nothing new
    p = plan(m, st, Observed(jobs=jobs, config_maps=cms), SETTINGS, NOW)
    assert p.status["phase"] == "Failed" and not by_kind(p.create, "Job")
    fixed = model(spec(training={"steps": 100, "gpusPerWorker": 2, **fix}))
    assert model_version(fixed.spec) == model_version(m.spec)  # how it runs, not what it trains
    p = plan(fixed, st, Observed(jobs=jobs, config_maps=cms), SETTINGS, NOW)
    [job] = by_kind(p.create, "Job")
    second = names.training_job("m", model_version(m.spec), attempt=2)
    assert job["metadata"]["name"] == second != first and len(second) <= 63
    assert p.status["phase"] == "Training" and p.status["trainingAttempt"]["number"] == 2
    assert ("jobs", first) in {(r.plural, r.name) for r in p.delete}  # the failed attempt's Job goes
    # and the new attempt is followed (not the old failure)
    st2 = state_after(p)
    p = plan(fixed, st2, Observed(jobs={second: job}, config_maps=cms), SETTINGS, NOW)
    assert p.status["phase"] == "Training" and not by_kind(p.create, "Job")


def test_a_retry_annotation_starts_a_new_attempt_once_per_value() -> None:
    m = model()
    st, jobs, cms = failed_training(m)
    p = plan(m, st, Observed(jobs=jobs, config_maps=cms, retry="2026-01-01T12:00"), SETTINGS, NOW)
    [job] = by_kind(p.create, "Job")
    assert job["metadata"]["name"] == names.training_job("m", model_version(m.spec), attempt=2)
    # it fails again: the same annotation value does not loop, a new value retries once more
    jobs2 = {job["metadata"]["name"]: job_done(job, ok=False)}
    st2 = state_after(p)
    p = plan(m, st2, Observed(jobs=jobs2, config_maps=cms, retry="2026-01-01T12:00"), SETTINGS, NOW)
    assert p.status["phase"] == "Failed" and not by_kind(p.create, "Job")
    assert "rejoinder.dev/retry" in cond(p, "Trained")["message"]  # the way out is told
    p = plan(m, state_after(p), Observed(jobs=jobs2, config_maps=cms, retry="again"), SETTINGS, NOW)
    assert [j["metadata"]["name"] for j in by_kind(p.create, "Job")] == [names.training_job("m", model_version(m.spec), attempt=3)]


def test_a_running_training_is_not_restarted_by_an_operational_change() -> None:
    m = model()
    p = plan(m, DialogModelStatus(), Observed(), SETTINGS, NOW)
    jobs = {o["metadata"]["name"]: o for o in by_kind(p.create, "Job")}
    changed = model(spec(training={"steps": 100, "gpusPerWorker": 2, "image": "trainer:2"}))
    p = plan(changed, state_after(p), Observed(jobs=jobs), SETTINGS, NOW)
    assert not by_kind(p.create, "Job") and not p.delete


# --- issue 11 (6): index-only and serving-only changes ----------------------------------------------


def _spec_volume(dep: dict[str, Any]) -> str:
    return next(v["configMap"]["name"] for v in dep["spec"]["template"]["spec"]["volumes"] if v["name"] == "spec")


def _applied(dep: dict[str, Any], patch: dict[str, Any], generation: int) -> dict[str, Any]:
    """The Deployment after a merge patch, not yet rolled out by its controller."""
    out = copy.deepcopy(patch)
    out["spec"].setdefault("replicas", dep["spec"]["replicas"])
    out["metadata"]["generation"] = generation
    out["status"] = {**dep["status"], "observedGeneration": generation, "updatedReplicas": 0, "availableReplicas": 1}
    return out


def test_spec_config_maps_are_immutable_and_content_addressed() -> None:
    m1, st, obs = serving_model({"recall@5": 0.6})
    [old] = obs["config_maps"].values()
    assert old["immutable"] is True
    m2 = model(spec(serving={"batching": {"maxBatchSize": 8}}))
    p = plan(m2, st, Observed(jobs=obs["jobs"], config_maps=obs["config_maps"], deployment=obs["deployment"]), SETTINGS, NOW)
    assert not by_kind(p.patch, "ConfigMap")  # never rewritten in place
    [new] = by_kind(p.create, "ConfigMap")
    assert new["immutable"] is True and new["metadata"]["name"] != old["metadata"]["name"]
    assert new["metadata"]["labels"][names.LABEL_VERSION] == old["metadata"]["labels"][names.LABEL_VERSION]
    assert ("configmaps", old["metadata"]["name"]) not in {(r.plural, r.name) for r in p.delete}  # still served


def test_an_index_only_change_rolls_servers_out_only_once_the_new_index_is_built() -> None:
    m1, st, obs = serving_model({"recall@5": 0.6})
    dep = obs["deployment"]
    serving_cm = _spec_volume(dep)
    m2 = model(spec(index={"kind": "hnsw"}))
    assert model_version(m2.spec) == st.serving_version and index_version(m2.spec) != index_version(m1.spec)
    cms = dict(obs["config_maps"])
    p = plan(m2, st, Observed(jobs=obs["jobs"], config_maps=cms, deployment=dep), SETTINGS, NOW)
    [index] = by_kind(p.create, "Job")
    assert index["metadata"]["name"] == names.index_job("m", index_version(m2.spec))
    # the servers keep the spec (and so the index) they have until the new index exists
    assert all(_spec_volume(d) == serving_cm for d in by_kind(p.patch, "Deployment"))
    assert p.status["phase"] == "Indexing" and cond(p, "Available")["status"] == "True"
    # the index Job mounts the new spec, which exists
    [new_cm] = by_kind(p.create, "ConfigMap")
    assert next(v for v in index["spec"]["template"]["spec"]["volumes"] if v["name"] == "spec")["configMap"]["name"] == new_cm["metadata"]["name"]
    cms[new_cm["metadata"]["name"]] = new_cm
    jobs = {**obs["jobs"], index["metadata"]["name"]: job_done(index)}
    st2 = state_after(p)
    p = plan(m2, st2, Observed(jobs=jobs, config_maps=cms, deployment=dep), SETTINGS, NOW)
    [rolled] = by_kind(p.patch, "Deployment")
    assert _spec_volume(rolled) == new_cm["metadata"]["name"]
    assert p.status["phase"] == "RollingOut" and cond(p, "Progressing")["reason"] == "RollingOut"


def test_a_serving_only_rollout_has_a_deadline_and_is_rolled_back() -> None:
    m1, st, obs = serving_model({"recall@5": 0.6})
    dep = obs["deployment"]
    good_cm = _spec_volume(dep)
    m2 = model(spec(serving={"resources": {"limits": {"memory": "1Mi"}}}))  # servers will not start
    cms = dict(obs["config_maps"])
    p = plan(m2, st, Observed(jobs=obs["jobs"], config_maps=cms, deployment=dep), SETTINGS, NOW)
    [patch] = by_kind(p.patch, "Deployment")
    for new_cm in by_kind(p.create, "ConfigMap"):
        cms[new_cm["metadata"]["name"]] = new_cm
    assert p.status["phase"] == "RollingOut"  # a serving-only change is a rollout like a new version
    stuck = _applied(dep, patch, generation=2)
    st2 = state_after(p)
    p = plan(m2, st2, Observed(jobs=obs["jobs"], config_maps=cms, deployment=stuck), SETTINGS, NOW + timedelta(seconds=30))
    assert p.status["phase"] == "RollingOut" and not by_kind(p.patch, "Deployment")
    # past the progress deadline: rolled back to the last good spec (its resources and its ConfigMap)
    p = plan(m2, state_after(p), Observed(jobs=obs["jobs"], config_maps=cms, deployment=stuck), SETTINGS,
             NOW + timedelta(seconds=601))
    [rollback] = by_kind(p.patch, "Deployment")
    assert _spec_volume(rollback) == good_cm
    assert "resources" not in rollback["spec"]["template"]["spec"]["containers"][0]
    assert p.status["phase"] == "Degraded" and cond(p, "Degraded")["reason"] == "RolledBack"
    assert cond(p, "Progressing")["reason"] == "ProgressDeadlineExceeded"
    # the failed spec is not tried again; a new serving change is
    back = rolled_out(_applied(stuck, rollback, generation=3))
    st3 = state_after(p)
    p = plan(m2, st3, Observed(jobs=obs["jobs"], config_maps=cms, deployment=back), SETTINGS, NOW + timedelta(seconds=700))
    assert not by_kind(p.patch, "Deployment") and p.status["phase"] == "Degraded"
    m3 = model(spec(serving={"resources": {"limits": {"memory": "4Gi"}}}))
    p = plan(m3, st3, Observed(jobs=obs["jobs"], config_maps=cms, deployment=back), SETTINGS, NOW + timedelta(seconds=700))
    [again] = by_kind(p.patch, "Deployment")
    assert again["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["memory"] == "4Gi"


@pytest.mark.parametrize("metrics,refusal", [
    ({"recall@5": 0.80, "init_recall@5": 0.75}, None),
    ({"recall@5": 0.78, "init_recall@5": 0.75}, "QualityGateFailed"),
    ({"recall@5": 0.70, "init_recall@5": 0.75}, "QualityGateFailed"),
    ({"recall@5": 0.80}, "MetricsMissing"),
])
def test_gain_over_the_untrained_start(metrics: dict[str, float], refusal: str | None) -> None:
    found = start_gain_refusal("recall@5", 0.05, metrics)
    assert (found and found[0]) == refusal
    assert start_gain_refusal("recall@5", None, metrics) is None  # no minimum asked


def gain_gated(min_gain: float) -> DialogModelSpec:
    return spec(model={"init": {"huggingFace": "/hf"}}, tokenizer={"kind": "wordpiece"},
                rollout={"qualityGate": {"metric": "recall@5", "minGainOverStart": min_gain}})


@pytest.mark.parametrize("start,served", [(0.70, True), (0.76, False)])
def test_first_version_must_gain_over_its_start_to_be_served(start: float, served: bool) -> None:
    m = model(gain_gated(0.05))
    st, obs = run_pipeline(m, DialogModelStatus(), {}, {"recall@5": 0.78, "init_recall@5": start})
    assert bool(by_kind(obs["plan"].create, "Deployment")) is served
    if not served:
        assert st.phase.value == "Degraded" and st.serving_version is None
        degraded = next(c for c in st.conditions if c.type.value == "Degraded")
        assert degraded.reason == "QualityGateFailed" and "+0.0200" in degraded.message and "not served" in degraded.message


def test_new_version_without_gain_over_its_start_keeps_the_old_one_serving() -> None:
    gate = {"metric": "recall@5", "minGainOverStart": 0.05}
    extra = {"model": {"init": {"huggingFace": "/hf"}}, "tokenizer": {"kind": "wordpiece"}, "rollout": {"qualityGate": gate}}
    m1, st, obs = serving_model({"recall@5": 0.80, "init_recall@5": 0.70}, **extra)
    m2 = model(spec(training={"steps": 200}, **extra))
    # better than the serving version, but only +0.01 over its own start
    st2, obs2 = run_pipeline(m2, st, {"jobs": dict(obs["jobs"]), "config_maps": obs["config_maps"]},
                             {"recall@5": 0.81, "init_recall@5": 0.80}, serving_dep=obs["deployment"])
    assert not by_kind(obs2["plan"].patch, "Deployment")
    assert st2.serving_version == st.serving_version
    degraded = next(c for c in st2.conditions if c.type.value == "Degraded")
    assert degraded.reason == "QualityGateFailed" and f"keeping {st.serving_version}" in degraded.message


def test_a_server_reads_the_artifacts_read_only_but_appends_to_its_own_reaction_log() -> None:
    from rejoinder.feedback.segments import reactions_dir
    from rejoinder.operator import children

    m = model()
    pod = children.server_deployment(m, model_version(m.spec), 1, SETTINGS, {}, "h")["spec"]["template"]["spec"]
    mounts = pod["containers"][0]["volumeMounts"]
    assert {"name": "artifacts", "mountPath": "/data", "readOnly": True} in mounts
    log_dir = str(reactions_dir("/data", "ns", "m"))
    assert {"name": "artifacts", "mountPath": log_dir, "subPath": "ns/m/reactions"} in mounts  # writable
    [claim] = [v for v in pod["volumes"] if v["name"] == "artifacts"]
    assert "readOnly" not in claim["persistentVolumeClaim"]  # a read-only claim would make every mount read-only


def test_children_hold_no_false_the_apiserver_would_drop() -> None:
    """A volume's or mount's `readOnly: false` is not stored (a plain Go bool, omitempty): the
    Deployment read back would never contain the desired object, and the operator patched it at
    every reconcile (seen against the real apiserver, tests/realcluster)."""
    from rejoinder.operator import children

    m = model()
    version = model_version(m.spec)
    for obj in (children.server_deployment(m, version, 1, SETTINGS, {}, "h"),
                children.training_job(m, version, SETTINGS), children.index_job(m, version, "i", SETTINGS)):
        pod = obj["spec"]["template"]["spec"]
        for holder in [*pod["volumes"], *(v.get("persistentVolumeClaim") or {} for v in pod["volumes"]),
                       *(m for c in pod["containers"] for m in c["volumeMounts"])]:
            assert holder.get("readOnly", True) is True, holder
