"""Every example DialogModel on the real cluster, with the chart's operator: training (a Job, or
an MPIJob whose launcher the test runs as the MPI Operator would), the index Job for retrieval,
the Deployment rolled out by the real deployment controller, until the model Serves (or, when it
serves nothing, is Trained). Models that start from, rerank with or mine negatives from another
example run in one namespace with it; examples/quickstart.yaml is test_realcluster_operator_serving's.

The local-mode examples (storage.path `.rejoinder`, no claim) get the cluster's storage: a
ReadWriteMany claim mounted at /var/lib/rejoinder, as docs/kubernetes.md asks."""

from __future__ import annotations

from typing import Any

import pytest

from rejoinder.api import parse_dialog_model
from rejoinder.api.versioning import model_version
from rejoinder.operator import names
from rejoinder.pipeline.stages import serves
from tests.controlplane.cluster import ControlPlane
from tests.realcluster import dialogmodels as dm
from tests.realcluster import mpi_operator
from tests.realcluster.operator_process import OperatorProcess

pytestmark = pytest.mark.realcluster

# Each set is one namespace: the examples that refer to each other by name.
SETS = {
    "production": ["pretraining.yaml", "reranking.yaml", "retrieval.yaml", "session-scoring.yaml",
                   "retrieval-qa-lstm.yaml", "chitchat-retrieval.yaml"],
    "pipeline": ["pipeline.yaml"],
    "flywheel": ["flywheel.yaml"],
}


def test_the_sets_hold_every_example_but_the_quickstart() -> None:
    files = sorted(p.name for p in dm.EXAMPLES.glob("*.yaml"))
    assert sorted(f for group in SETS.values() for f in group) == [f for f in files if f != "quickstart.yaml"]


def on_the_cluster(doc: dict[str, Any], claim: str) -> dict[str, Any]:
    storage = doc["spec"].setdefault("storage", {})
    if not storage.get("persistentVolumeClaim"):
        doc["spec"]["storage"] = {"persistentVolumeClaim": claim, "path": "/var/lib/rejoinder"}
    return doc


@pytest.mark.parametrize("files", list(SETS.values()), ids=list(SETS))
def test_each_example_reaches_its_last_phase(control_plane: ControlPlane, namespace: str, artifacts: str,
                                             operator: OperatorProcess, training_results: dict[str, float],
                                             files: list[str]) -> None:
    api = control_plane.api()
    docs = [on_the_cluster(doc, artifacts) for f in files for doc in dm.example(f)]
    with mpi_operator.playing(api, namespace):
        created = [dm.create(api, namespace, doc) for doc in docs]
        for body in created:
            name, spec = body["metadata"]["name"], parse_dialog_model(body).spec
            version = model_version(spec)
            if serves(spec):
                status = dm.wait_phase(api, namespace, name, "Serving", servingVersion=version)
                assert status["readyReplicas"] >= spec.serving.min_replicas
            else:
                status = dm.wait_phase(api, namespace, name, "Trained", trainedVersion=version)
            assert status["metrics"] == training_results, name  # from its launcher's or Job's pod

    for body in created:
        name, spec = body["metadata"]["name"], parse_dialog_model(body).spec
        version = model_version(spec)
        jobs = {j["metadata"]["name"]: j for j in dm.children(api, namespace, name, "Job")}
        mpijobs = {m["metadata"]["name"] for m in dm.custom_children(api, namespace, name, "kubeflow.org", "v2beta1",
                                                                     "mpijobs")}
        if spec.training.workers > 1:
            assert mpijobs == {names.mpi_job(name, version)} and not dm.component(list(jobs.values()), "train")
        else:
            assert not mpijobs and names.training_job(name, version) in jobs
        assert bool(dm.component(list(jobs.values()), "index")) == (spec.task.value == "retrieval"), name
        deployments = dm.children(api, namespace, name, "Deployment")
        assert len(deployments) == (1 if serves(spec) else 0), name
