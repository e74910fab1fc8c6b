"""Revisions on the real deployment controller: a spec change rolls out a new version (a rolling
update the controller carries out: old ReplicaSet down, new one up), and a version whose pods
never become Ready misses its progress deadline — the controller's ProgressDeadlineExceeded —
and is rolled back to the version that served before."""

from __future__ import annotations

import pytest

from rejoinder.api import parse_dialog_model
from rejoinder.api.versioning import model_version
from rejoinder.operator import names
from tests.controlplane import kwok
from tests.controlplane.cluster import ControlPlane, wait_for
from tests.realcluster import dialogmodels as dm
from tests.realcluster.cluster_support import condition
from tests.realcluster.operator_process import OperatorProcess

pytestmark = pytest.mark.realcluster


def version_of(body: dict) -> str:
    return model_version(parse_dialog_model(body).spec)


def test_a_spec_change_rolls_out_a_new_version(control_plane: ControlPlane, namespace: str, artifacts: str,
                                               operator: OperatorProcess, training_results: dict[str, float]) -> None:
    api = control_plane.api()
    first = version_of(dm.create(api, namespace, dm.small("alpha", artifacts, serving={"minReplicas": 2})))
    dm.wait_phase(api, namespace, "alpha", "Serving", servingVersion=first)

    second = version_of(dm.patch_spec(api, namespace, "alpha", {"training": {"steps": 200}}))
    assert second != first
    status = dm.wait_phase(api, namespace, "alpha", "Serving", servingVersion=second)
    assert status["trainedVersion"] == second and status["readyReplicas"] == 2

    # the deployment controller's rolling update: the old ReplicaSet scaled to 0, the new one serves
    sets = dm.children(api, namespace, "alpha", "ReplicaSet")
    by_replicas = sorted((rs["spec"]["replicas"], rs["spec"]["template"]["metadata"]["labels"][names.LABEL_VERSION])
                         for rs in sets)
    assert by_replicas == [(0, first), (2, second)]
    wait_for("only new pods", lambda: {p["metadata"]["labels"][names.LABEL_VERSION] for p in dm.component(
        dm.children(api, namespace, "alpha", "Pod"), names.COMPONENT_SERVER)} == {second}, timeout=120)
    # the first version's Jobs go once the second serves (the operator's garbage collection)
    wait_for("old Jobs removed", lambda: {j["metadata"]["labels"][names.LABEL_VERSION]
                                          for j in dm.children(api, namespace, "alpha", "Job")} == {second}, timeout=120)


def test_a_version_that_never_becomes_ready_is_rolled_back(control_plane: ControlPlane, namespace: str, artifacts: str,
                                                           operator: OperatorProcess,
                                                           training_results: dict[str, float]) -> None:
    api = control_plane.api()
    # the smallest deadline the CRD allows: the deployment controller gives up after it
    body = dm.small("beta", artifacts, rollout={"progressDeadlineSeconds": 30})
    good = version_of(dm.create(api, namespace, body))
    dm.wait_phase(api, namespace, "beta", "Serving", servingVersion=good)

    bad = model_version(parse_dialog_model({**body, "spec": {**body["spec"], "training": {
        **body["spec"]["training"], "steps": 300}}}).spec)
    with kwok.pods_unready(api, namespace, {names.LABEL_MODEL: "beta", names.LABEL_VERSION: bad}):
        assert version_of(dm.patch_spec(api, namespace, "beta", {"training": {"steps": 300}})) == bad
        status = dm.wait_status(api, namespace, "beta", lambda s: s.get("failedVersion") == bad, "a rollback",
                                give_up=())
    assert status["servingVersion"] == good and status["phase"] == "Degraded"
    degraded = dm.condition(status, "Degraded")
    assert degraded["reason"] == "RolledBack" and "rolled back" in degraded["message"] and good in degraded["message"]
    # the Deployment runs the good version again, rolled out by the controller; the bad pods went
    (deployment,) = dm.children(api, namespace, "beta", "Deployment")
    assert deployment["metadata"]["annotations"][names.ANN_VERSION] == good
    wait_for("the good version available again", lambda: condition(
        dm.children(api, namespace, "beta", "Deployment")[0], "Available") == "True"
        and {p["metadata"]["labels"][names.LABEL_VERSION] for p in dm.component(
            dm.children(api, namespace, "beta", "Pod"), names.COMPONENT_SERVER)} == {good}, timeout=180)
    assert dm.status(api, namespace, "beta")["servingVersion"] == good
