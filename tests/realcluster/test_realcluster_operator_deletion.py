"""Deleting a DialogModel: its finalizer holds it until the operator has run its deletion handler
(even when the operator was down at the time), which deletes the children it lists and starts
the Job that removes the artifacts; the real garbage collector removes the rest (ReplicaSets,
pods, the HorizontalPodAutoscaler) through their owner references."""

from __future__ import annotations

import pytest

from rejoinder.operator import names
from rejoinder.operator.handlers import FINALIZER
from tests.controlplane.cluster import ControlPlane, wait_for
from tests.realcluster import dialogmodels as dm
from tests.realcluster.conftest import StartOperator

pytestmark = pytest.mark.realcluster
KINDS = ("Job", "Deployment", "ReplicaSet", "Pod", "Service", "ConfigMap", "PodDisruptionBudget",
         "HorizontalPodAutoscaler")


def test_deletion_runs_the_finalizer_and_the_garbage_collector_takes_the_rest(
        control_plane: ControlPlane, namespace: str, artifacts: str, start_operator: StartOperator,
        training_results: dict[str, float]) -> None:
    api = control_plane.api()
    operator = start_operator()
    body = dm.create(api, namespace, dm.small("eta", artifacts, storage={"keepOnDelete": False},
                                              serving={"autoscaling": {"engine": "hpa"}}))
    dm.wait_phase(api, namespace, "eta", "Serving")
    before = {kind: len(dm.children(api, namespace, "eta", kind)) for kind in KINDS}
    assert all(before.values()), before  # one of each kind, at least

    operator.stop()
    dm.kubectl(control_plane, "delete", "dm", "eta", "-n", namespace, "--wait=false")
    held = dm.read(api, namespace, "eta")
    assert held is not None and held["metadata"]["deletionTimestamp"] and FINALIZER in held["metadata"]["finalizers"]

    operator.start()
    wait_for("the DialogModel gone", lambda: dm.read(api, namespace, "eta") is None, timeout=120)
    cleanup = names.cleanup_job("eta", body["metadata"]["uid"])

    def remaining() -> dict[str, list[str]]:
        left = {kind: [o["metadata"]["name"] for o in dm.children(api, namespace, "eta", kind)
                       if names.COMPONENT_CLEANUP not in (o["metadata"]["name"], (o["metadata"].get("labels") or {})
                                                          .get(names.LABEL_COMPONENT))] for kind in KINDS}
        return {kind: objs for kind, objs in left.items() if objs}
    wait_for("every child removed", lambda: remaining() == {}, timeout=180)
    (job,) = [j for j in dm.children(api, namespace, "eta", "Job") if j["metadata"]["name"] == cleanup]
    assert "ownerReferences" not in job["metadata"]  # it outlives the model, removing its artifacts
