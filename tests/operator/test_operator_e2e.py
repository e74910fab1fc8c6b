"""The real operator (kopf) against the in-process Kubernetes API emulator, with the CRD from
crds/ installed; the tests play the Job, Deployment and kubelet controllers by writing status."""

from __future__ import annotations

import json
import time
from typing import Any, Iterator

import pytest
from k8s_emulator import ApiFailure, EmulatorThread
from operator_e2e import (
    API, condition, create_pod, deployed_version, deployment, dialog_model, finish_job, get_model,
    install_crd, jobs, local_http_server, objects, rollout, running_operator, set_log, start_job, status_of, wait_for,
)

from rejoinder.api.versioning import index_version, model_version
from rejoinder.api.spec import DialogModelSpec
from rejoinder.operator import names
from rejoinder.operator.permissions import allowed
from rejoinder.operator.security import pod_spec_problems

NS = "default"


@pytest.fixture(scope="module")
def emu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorThread]:
    """One emulator and one operator for the module's tests (each test uses its own models)."""
    with EmulatorThread() as emulator:
        install_crd(emulator)
        with running_operator(emulator, tmp_path_factory.mktemp("kube")):
            yield emulator


def version_of(dm: dict[str, Any]) -> str:
    return model_version(DialogModelSpec.model_validate(dm["spec"]))


def metrics_line(**values: float) -> str:
    return "REJOINDER_PROGRESS step=100 total=100 loss=0.3 examples_per_sec=900\nREJOINDER_METRICS " + json.dumps(values) + "\n"


def train_and_index(emu: EmulatorThread, name: str, version: str, metrics: dict[str, float]) -> None:
    job = wait_for(lambda: [j for j in jobs(emu, NS, name, "train") if j["metadata"]["labels"][names.LABEL_VERSION] == version],
                   f"the training Job of {version}")[0]
    start_job(emu, job, log=metrics_line(**metrics))
    finish_job(emu, job)
    index = wait_for(lambda: [j for j in jobs(emu, NS, name, "index") if j["metadata"]["labels"][names.LABEL_VERSION] == version],
                     f"the index Job of {version}")[0]
    start_job(emu, index)
    finish_job(emu, index)


def serve(emu: EmulatorThread, name: str, version: str, **rollout_args: Any) -> dict[str, Any]:
    wait_for(lambda: deployed_version(deployment(emu, NS, name)) == version, f"the Deployment at {version}")
    rollout(emu, NS, name, **rollout_args)
    return wait_for(lambda: (s := status_of(emu, NS, name)).get("servingVersion") == version and s.get("phase") == "Serving" and s,
                    f"{name} serving {version}")


def test_create_train_index_rollout_serve(emu: EmulatorThread) -> None:
    dm = dialog_model("alpha")
    version = version_of(dm)
    emu.client.create(dm, "dialogmodels")
    job = wait_for(lambda: jobs(emu, NS, "alpha", "train"), "the training Job")[0]
    assert job["metadata"]["name"] == names.training_job("alpha", version)
    pod = job["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["command"] == ["horovodrun", "-np", "2", "rejoinder", "train", "-f", "/etc/rejoinder/dialogmodel.yaml"]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 2
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["artifacts"]["persistentVolumeClaim"]["claimName"] == "artifacts"
    assert volumes["spec"]["configMap"]["name"].startswith(f"alpha-spec-{version.removeprefix('v-')}-")
    assert pod_spec_problems(pod) == []
    cm = emu.client.get("v1", "configmaps", NS, volumes["spec"]["configMap"]["name"])
    assert cm is not None and "name: alpha" in cm["data"]["dialogmodel.yaml"]
    assert job["metadata"]["ownerReferences"][0]["kind"] == "DialogModel"

    running = start_job(emu, job, log="REJOINDER_PROGRESS step=25 total=100 loss=1.25 examples_per_sec=800\n")
    status = wait_for(lambda: (s := status_of(emu, NS, "alpha")).get("training", {}).get("step") == 25 and s, "progress")
    assert status["phase"] == "Training" and "step 25 of 100" in status["message"]
    assert condition(status, "Trained")["reason"] == "TrainingStep"

    set_log(emu, running, metrics_line(**{"recall@5": 0.61, "map": 0.42}))
    finish_job(emu, job)
    index = wait_for(lambda: jobs(emu, NS, "alpha", "index"), "the index Job")[0]
    assert index["spec"]["template"]["spec"]["containers"][0]["command"] == [
        "rejoinder", "build-index", "-f", "/etc/rejoinder/dialogmodel.yaml"]
    status = wait_for(lambda: (s := status_of(emu, NS, "alpha")).get("phase") == "Indexing" and s, "phase Indexing")
    assert status["trainedVersion"] == version and status["metrics"] == {"recall@5": 0.61, "map": 0.42}
    start_job(emu, index)
    finish_job(emu, index)

    dep = wait_for(lambda: deployment(emu, NS, "alpha"), "the Deployment")
    container = dep["spec"]["template"]["spec"]["containers"][0]
    assert container["command"][:2] == ["rejoinder", "serve"] and container["command"][5] == version
    assert container["readinessProbe"]["grpc"]["port"] == 8500
    assert pod_spec_problems(dep["spec"]["template"]["spec"]) == []
    wait_for(lambda: emu.client.get("v1", "services", NS, names.server("alpha")), "the Service")  # created after
    wait_for(lambda: emu.client.get("policy/v1", "poddisruptionbudgets", NS, names.server("alpha")), "the PDB")
    wait_for(lambda: status_of(emu, NS, "alpha").get("phase") == "RollingOut", "phase RollingOut")

    status = serve(emu, "alpha", version)
    assert status["endpoint"] == f"{names.server('alpha')}.{NS}.svc:8500"
    assert status["readyReplicas"] == 1 and condition(status, "Available")["status"] == "True"
    assert condition(status, "Degraded")["status"] == "False"
    # what `kubectl get dm` prints (server-side Table from the CRD's printer columns)
    table = emu.client.request("GET", f"/apis/{API}/namespaces/{NS}/dialogmodels/alpha",
                               headers={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"})
    columns = [c["name"] for c in table["columnDefinitions"]]
    row = dict(zip(columns, table["rows"][0]["cells"]))
    assert (row["Phase"], row["Version"], row["Ready"], row["Task"]) == ("Serving", version, 1, "retrieval")
    assert row["Message"].startswith("serving ")
    expected = {"JobCreated", "TrainingSucceeded", "IndexBuilt", "NewVersionAvailable", "Serving"}
    wait_for(lambda: expected <= {e["reason"] for e in emu.client.list("v1", "events", NS)
                                  if e["involvedObject"]["name"] == "alpha"}, "an Event per transition")  # posted async


def served_model(emu: EmulatorThread, name: str) -> tuple[dict[str, Any], str]:
    """A retrieval model trained, indexed and serving its first version."""
    dm = dialog_model(name)
    version = version_of(dm)
    emu.client.create(dm, "dialogmodels")
    train_and_index(emu, name, version, {"recall@5": 0.5})
    serve(emu, name, version)
    return dm, version


def test_spec_change_trains_a_new_version_while_the_old_one_serves(emu: EmulatorThread) -> None:
    dm, v1 = served_model(emu, "beta")

    emu.client.patch(API, "dialogmodels", NS, "beta", {"spec": {"training": {"steps": 200}}})
    v2 = version_of(get_model(emu, NS, "beta"))  # type: ignore[arg-type]
    assert v2 != v1
    job = wait_for(lambda: [j for j in jobs(emu, NS, "beta", "train") if j["metadata"]["labels"][names.LABEL_VERSION] == v2],
                   "the new version's training Job")[0]
    pod = start_job(emu, job, log="REJOINDER_PROGRESS step=5 total=200 loss=2 examples_per_sec=10\n")
    status = wait_for(lambda: (s := status_of(emu, NS, "beta")).get("phase") == "Training" and s.get("latestVersion") == v2 and s,
                      "training v2")
    assert status["servingVersion"] == v1 and condition(status, "Available")["status"] == "True"
    assert deployed_version(deployment(emu, NS, "beta")) == v1  # untouched while v2 trains

    set_log(emu, pod, metrics_line(**{"recall@5": 0.55}))
    finish_job(emu, job)
    index = wait_for(lambda: [j for j in jobs(emu, NS, "beta", "index") if j["metadata"]["labels"][names.LABEL_VERSION] == v2],
                     "v2's index Job")[0]
    start_job(emu, index)
    finish_job(emu, index)
    status = serve(emu, "beta", v2)
    assert status["lastGoodVersion"] == v2

    # a serving-only change: no training, the Deployment is updated in place
    before = len(jobs(emu, NS, "beta", "train"))
    emu.client.patch(API, "dialogmodels", NS, "beta", {"spec": {"serving": {"resources": {"requests": {"cpu": "3"}}}}})
    wait_for(lambda: (deployment(emu, NS, "beta") or {}).get("spec", {}).get("template", {}).get("spec", {})
             .get("containers", [{}])[0].get("resources", {}).get("requests", {}).get("cpu") == "3", "the updated Deployment")
    assert len(jobs(emu, NS, "beta", "train")) == before
    assert status_of(emu, NS, "beta")["latestVersion"] == v2


def test_failed_rollout_is_rolled_back_and_degraded(emu: EmulatorThread) -> None:
    dm = dialog_model("gamma")
    v1 = version_of(dm)
    emu.client.create(dm, "dialogmodels")
    train_and_index(emu, "gamma", v1, {"recall@5": 0.5})
    serve(emu, "gamma", v1)
    emu.client.patch(API, "dialogmodels", NS, "gamma", {"spec": {"training": {"steps": 300}}})
    v2 = version_of(get_model(emu, NS, "gamma"))  # type: ignore[arg-type]
    train_and_index(emu, "gamma", v2, {"recall@5": 0.52})
    wait_for(lambda: deployed_version(deployment(emu, NS, "gamma")) == v2, "the rollout of v2")
    # the new pods never get ready: the Deployment controller reports the progress deadline
    rollout(emu, NS, "gamma", available=False, deadline_exceeded=True)
    status = wait_for(lambda: (s := status_of(emu, NS, "gamma")).get("failedVersion") == v2 and s, "the rollback")
    assert status["phase"] == "Degraded" and status["servingVersion"] == v1
    assert condition(status, "Degraded")["reason"] == "RolledBack"
    assert v1 in condition(status, "Degraded")["message"]
    assert deployed_version(deployment(emu, NS, "gamma")) == v1
    # v1 comes back; v2 is not tried again
    rollout(emu, NS, "gamma")
    time.sleep(1.5)
    status = status_of(emu, NS, "gamma")
    assert deployed_version(deployment(emu, NS, "gamma")) == v1 and status["phase"] == "Degraded"
    assert condition(status, "Available")["status"] == "True"


def test_quality_gate_refuses_a_regressed_version(emu: EmulatorThread) -> None:
    dm = dialog_model("delta", rollout={"qualityGate": {"metric": "recall@5", "maxRegression": 0.02}})
    v1 = version_of(dm)
    emu.client.create(dm, "dialogmodels")
    train_and_index(emu, "delta", v1, {"recall@5": 0.60})
    serve(emu, "delta", v1)
    emu.client.patch(API, "dialogmodels", NS, "delta", {"spec": {"training": {"steps": 50}}})
    v2 = version_of(get_model(emu, NS, "delta"))  # type: ignore[arg-type]
    train_and_index(emu, "delta", v2, {"recall@5": 0.51})
    status = wait_for(lambda: condition(s := status_of(emu, NS, "delta"), "Degraded").get("reason") == "QualityGateFailed" and s,
                      "the quality gate's verdict")
    assert status["phase"] == "Degraded" and status["trainedVersion"] == v2 and status["servingVersion"] == v1
    assert "0.5100" in condition(status, "Degraded")["message"]
    assert deployed_version(deployment(emu, NS, "delta")) == v1


class Counter:
    """A model server's /metrics: rejoinder_requests_total growing at `rate` per second."""

    def __init__(self, rate: float):
        self.rate, self.base, self.since = rate, 0.0, time.monotonic()
        self.server = local_http_server(lambda path: ("text/plain; version=0.0.4", self.exposition()))
        self.url = f"http://127.0.0.1:{self.server.server_port}/metrics"

    def value(self) -> float:
        return self.base + self.rate * (time.monotonic() - self.since)

    def exposition(self) -> str:
        value = self.value()
        return ("# TYPE rejoinder_requests_total counter\n"
                f'rejoinder_requests_total{{method="Retrieve",code="OK"}} {value * 0.9}\n'
                f'rejoinder_requests_total{{method="Respond",code="OK"}} {value * 0.1}\n')

    def set_rate(self, rate: float) -> None:
        self.base, self.since, self.rate = self.value(), time.monotonic(), rate


def test_rps_autoscaling_from_pod_metrics_endpoints(emu: EmulatorThread) -> None:
    dm = dialog_model("epsilon", serving={"minReplicas": 2, "maxReplicas": 8, "targetRpsPerReplica": 10,
                                          "scaleDownStabilizationSeconds": 2})
    version = version_of(dm)
    emu.client.create(dm, "dialogmodels")
    train_and_index(emu, "epsilon", version, {"recall@5": 0.5})
    counters = [Counter(22.0), Counter(22.0)]
    noisy = Counter(10_000.0)  # a pod that is not ready must not count
    try:
        serve(emu, "epsilon", version, metrics_urls=[c.url for c in counters])
        dep = deployment(emu, NS, "epsilon")
        create_pod(emu, NS, dep["spec"]["template"], "epsilon-unready", ready=False,  # type: ignore[index]
                   annotations={"test.rejoinder.dev/metrics-url": noisy.url})
        # 44 requests/s over 2 ready pods, 10 per replica → 5 replicas, at once (away from a boundary:
        # the measured rate jitters by a request or so)
        wait_for(lambda: (deployment(emu, NS, "epsilon") or {})["spec"]["replicas"] == 5, "scale-up to 5", timeout=20)
        status = wait_for(lambda: 38 <= (status_of(emu, NS, "epsilon").get("rps") or 0) <= 50 and status_of(emu, NS, "epsilon"),
                          "the measured RPS")
        assert status["rps"] < 100  # the unready pod's 10 000 requests/s are not counted
        # load stops: replicas go down to minReplicas, but only after the stabilisation window
        for c in counters:
            c.set_rate(0.0)
        dropped_at = time.monotonic()
        wait_for(lambda: (deployment(emu, NS, "epsilon") or {})["spec"]["replicas"] == 2, "scale-down to 2", timeout=20)
        # the window is judged on the operator's samples, taken every 0.5 s: one may straddle the drop
        assert time.monotonic() - dropped_at >= 2.0 - 0.5
        wait_for(lambda: {"ScaledUp", "ScaledDown"} <= {e["reason"] for e in emu.client.list("v1", "events", NS)
                                                        if e["involvedObject"]["name"] == "epsilon"}, "scaling Events")
    finally:
        for c in counters + [noisy]:
            c.server.shutdown()


def test_failed_training_job_reports_its_last_log_lines(emu: EmulatorThread) -> None:
    emu.client.create(dialog_model("theta"), "dialogmodels")
    job = wait_for(lambda: jobs(emu, NS, "theta", "train"), "the training Job")[0]
    start_job(emu, job, log="loading data\nTraceback (most recent call last):\n"
                            "rejoinder.text.formats.DataError: train.jsonl line 7: 'context' is missing\n")
    finish_job(emu, job, succeeded=False)
    status = wait_for(lambda: (s := status_of(emu, NS, "theta")).get("phase") == "Failed" and s, "phase Failed")
    trained = condition(status, "Trained")
    assert trained["reason"] == "JobFailed" and "BackoffLimitExceeded" in trained["message"]
    assert "line 7: 'context' is missing" in trained["message"]
    wait_for(lambda: any(e["reason"] == "JobFailed" and e["type"] == "Warning" for e in emu.client.list("v1", "events", NS)
                         if e["involvedObject"]["name"] == "theta"), "a Warning event")


def test_a_failed_training_is_retried_after_a_fix_and_on_the_retry_annotation(emu: EmulatorThread) -> None:
    dm = dialog_model("iota", task="reranking")
    version = version_of(dm)
    emu.client.create(dm, "dialogmodels")
    job = wait_for(lambda: jobs(emu, NS, "iota", "train"), "the training Job")[0]
    start_job(emu, job, log="CUDA out of memory\n")
    finish_job(emu, job, succeeded=False)
    wait_for(lambda: status_of(emu, NS, "iota").get("phase") == "Failed", "phase Failed")
    # more memory for the same version: a second attempt
    emu.client.patch(API, "dialogmodels", NS, "iota", {"spec": {"training": {"resources": {"limits": {"memory": "64Gi"}}}}})
    second = names.training_job("iota", version, attempt=2)
    job2 = wait_for(lambda: emu.client.get("batch/v1", "jobs", NS, second), "the second attempt's Job")
    assert job2["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["memory"] == "64Gi"
    wait_for(lambda: emu.client.get("batch/v1", "jobs", NS, job["metadata"]["name"]) is None, "the failed attempt's Job removed")
    assert status_of(emu, NS, "iota")["trainingAttempt"]["number"] == 2
    start_job(emu, job2, log="flaky node\n")
    finish_job(emu, job2, succeeded=False)
    wait_for(lambda: status_of(emu, NS, "iota").get("phase") == "Failed", "phase Failed again")
    # nothing to change in the spec: the annotation asks for a third attempt
    emu.client.patch(API, "dialogmodels", NS, "iota", {"metadata": {"annotations": {names.ANN_RETRY: "1"}}})
    wait_for(lambda: emu.client.get("batch/v1", "jobs", NS, names.training_job("iota", version, attempt=3)), "the third attempt")
    wait_for(lambda: status_of(emu, NS, "iota").get("phase") == "Training", "phase Training")


def test_an_index_only_change_rolls_out_once_the_index_is_built(emu: EmulatorThread) -> None:
    dm, version = served_model(emu, "kappa")

    def spec_volume() -> str:
        dep = deployment(emu, NS, "kappa")
        return next(v["configMap"]["name"] for v in dep["spec"]["template"]["spec"]["volumes"] if v["name"] == "spec")

    before = spec_volume()
    emu.client.patch(API, "dialogmodels", NS, "kappa", {"spec": {"index": {"kind": "hnsw"}}})
    index = wait_for(lambda: [j for j in jobs(emu, NS, "kappa", "index") if j["metadata"]["name"] != names.index_job(
        "kappa", index_version(DialogModelSpec.model_validate(dm["spec"])))], "the new index Job")[0]
    time.sleep(1.5)  # resyncs: nothing may roll out while the index is being built
    assert spec_volume() == before and status_of(emu, NS, "kappa")["phase"] == "Indexing"
    assert emu.client.get("v1", "configmaps", NS, before)["immutable"] is True
    start_job(emu, index)
    finish_job(emu, index)
    after = wait_for(lambda: (v := spec_volume()) != before and v, "the rollout of the new index")
    assert emu.client.get("v1", "configmaps", NS, after) is not None
    wait_for(lambda: status_of(emu, NS, "kappa").get("phase") == "RollingOut", "a tracked rollout")
    rollout(emu, NS, "kappa")
    wait_for(lambda: (s := status_of(emu, NS, "kappa")).get("phase") == "Serving" and s.get("servingRevision") == after,
             "serving the new revision")


def test_missing_mpijob_crd_is_reported(emu: EmulatorThread) -> None:
    emu.client.create(dialog_model("zeta", training={"workers": 2}), "dialogmodels")
    status = wait_for(lambda: condition(s := status_of(emu, NS, "zeta"), "Trained").get("reason") == "MPIJobCRDMissing" and s,
                      "the MPIJobCRDMissing condition")
    assert status["phase"] == "Failed" and "MPI Operator" in status["message"]
    assert not jobs(emu, NS, "zeta", "train")


def test_delete_removes_children_and_the_finalizer(emu: EmulatorThread) -> None:
    dm = dialog_model("eta", storage={"keepOnDelete": False})
    version = version_of(dm)
    emu.client.create(dm, "dialogmodels")
    train_and_index(emu, "eta", version, {"recall@5": 0.5})
    serve(emu, "eta", version)
    assert wait_for(lambda: (get_model(emu, NS, "eta") or {}).get("metadata", {}).get("finalizers"), "the finalizer")
    emu.client.delete(API, "dialogmodels", NS, "eta")
    wait_for(lambda: get_model(emu, NS, "eta") is None, "the DialogModel to go", timeout=10)
    for api, plural in (("batch/v1", "jobs"), ("apps/v1", "deployments"), ("v1", "services"),
                        ("policy/v1", "poddisruptionbudgets"), ("v1", "configmaps")):
        left = [o["metadata"]["name"] for o in objects(emu, api, plural, NS, "eta")
                if o["metadata"]["labels"].get(names.LABEL_COMPONENT) != names.COMPONENT_CLEANUP]
        assert left == [], f"{plural} left behind: {left}"
    # keepOnDelete false: a Job (not owned by the gone model) removes the artifacts
    cleanup = emu.client.get("batch/v1", "jobs", NS, names.cleanup_job("eta"))
    assert cleanup is not None and "ownerReferences" not in cleanup["metadata"]
    assert cleanup["spec"]["template"]["spec"]["containers"][0]["command"] == ["rm", "-rf", "--", f"/var/lib/rejoinder/{NS}/eta"]


@pytest.mark.parametrize("spec,field", [
    ({"training": {"workers": 0}}, "spec.training.workers"),
    ({"task": "translation"}, "spec.task"),
    ({"serving": {"minReplicas": 5, "maxReplicas": 2}}, "spec.serving.minReplicas"),  # a CEL rule
    ({"data": {}}, "spec.data.train"),  # CEL: preset or train
])
def test_invalid_dialog_model_is_rejected_by_the_schema(emu: EmulatorThread, spec: dict[str, Any], field: str) -> None:
    dm = dialog_model("invalid", **spec)
    if spec.get("data") == {}:
        dm["spec"]["data"] = {}
    with pytest.raises(ApiFailure) as caught:
        emu.client.create(dm, "dialogmodels")
    assert caught.value.code == 422 and caught.value.reason == "Invalid"
    assert field in json.dumps(caught.value.body["details"]["causes"])
    assert get_model(emu, NS, "invalid") is None


def test_operator_requests_are_all_covered_by_its_permissions(emu: EmulatorThread) -> None:
    """Runs after the other tests of the module: every request the operator made so far."""
    mine = [r for r in emu.emulator.requests_log if r.user_agent.startswith(("kopf", "rejoinder-operator"))]
    assert len(mine) > 50
    missing = sorted({(r.verb, r.group, r.resource, r.subresource) for r in mine
                      if not allowed(r.verb, r.group, r.resource, r.subresource)})
    assert missing == []
