"""helm install → Serving: the operator process, logged in with the chart's ServiceAccount token,
takes examples/quickstart.yaml through training (a Job whose pod the real job controller runs and
kwok finishes with the trainer's last lines), the index Job, and a Deployment the real deployment
controller rolls out until its pods are Ready; `kubectl get dm` prints the printer columns."""

from __future__ import annotations

import pytest

from rejoinder.api import parse_dialog_model
from rejoinder.api.versioning import index_version, model_version
from rejoinder.operator import names
from tests.controlplane import audit
from tests.controlplane.cluster import ControlPlane
from tests.realcluster import dialogmodels as dm
from tests.realcluster.chart import Release
from tests.realcluster.operator_process import OperatorProcess

pytestmark = pytest.mark.realcluster


def test_quickstart_is_trained_indexed_and_served(control_plane: ControlPlane, chart: Release, namespace: str,
                                                  artifacts: str, operator: OperatorProcess,
                                                  training_results: dict[str, float]) -> None:
    api = control_plane.api()
    (doc,) = dm.example("quickstart.yaml")
    # on a cluster the pods share artifacts on a ReadWriteMany claim (the local run uses a directory)
    doc["spec"]["storage"] = {"persistentVolumeClaim": artifacts, "path": "/var/lib/rejoinder"}
    created = dm.create(api, namespace, doc)
    spec = parse_dialog_model(created).spec  # as the apiserver defaulted it
    version = model_version(spec)

    status = dm.wait_phase(api, namespace, "quickstart", "Serving")
    assert status["trainedVersion"] == status["servingVersion"] == version
    assert status["metrics"] == training_results  # the termination message the operator read
    assert status["training"]["step"] == 100 and status["training"]["loss"] == pytest.approx(0.421)  # the log
    assert status["readyReplicas"] == 1 and status["endpoint"] == f"quickstart-server.{namespace}.svc:8500"
    assert {c["type"]: c["status"] for c in status["conditions"]}.items() >= {
        "Trained": "True", "Indexed": "True", "Available": "True", "Degraded": "False"}.items()

    jobs = dm.children(api, namespace, "quickstart", "Job")
    assert sorted(j["metadata"]["name"] for j in jobs) == sorted(
        [names.training_job("quickstart", version), names.index_job("quickstart", index_version(spec))])
    assert all(dm.condition(j, "Complete").get("status") == "True" for j in jobs)  # the real job controller's
    (deployment,) = dm.children(api, namespace, "quickstart", "Deployment")
    assert deployment["status"]["observedGeneration"] == deployment["metadata"]["generation"]
    pods = dm.component(dm.children(api, namespace, "quickstart", "Pod"), names.COMPONENT_SERVER)
    assert [p["status"]["phase"] for p in pods] == ["Running"]
    assert pods[0]["metadata"]["ownerReferences"][0]["kind"] == "ReplicaSet"
    # the owner chain the garbage collector follows: DialogModel → Deployment → ReplicaSet → Pod
    assert deployment["metadata"]["ownerReferences"][0]["uid"] == created["metadata"]["uid"]

    table = dm.kubectl(control_plane, "get", "dm", "-n", namespace).splitlines()
    assert table[0].split() == ["NAME", "TASK", "PHASE", "VERSION", "READY", "RPS", "CANARY", "AGE"]
    row = table[1].split()
    assert row[:5] == ["quickstart", "retrieval", "Serving", version, "1"]

    # Settled (the autoscaler has a rate once it scraped the pod twice): more reconciliations change
    # nothing. The Deployment was patched at every one while the operator wanted `readOnly: false`
    # on volumes, which the apiserver does not store.
    dm.wait_status(api, namespace, "quickstart", lambda s: dm.condition(s, "ScalingActive").get("status") == "True",
                   "a request rate")
    settled = audit.AuditLog(control_plane.audit.log).mark()
    operator.wait_reconciles(3)
    writes = [r for r in settled.requests(chart.user) if r.verb in ("create", "update", "patch", "delete")]
    assert writes == [], "\n".join(map(str, writes))
