"""The MPI Operator's part, played by the test (no mpi-operator runs here; its real MPIJob CRD is
installed). As mpi-operator v2beta1 does: for each MPIJob a launcher Job `<mpijob>-launcher`
owned by it, whose pod template is the MPIJob's Launcher template plus the training.kubeflow.org
labels; the real job controller and kwok then run that pod (and pod_outcome ends it with the
test's termination message). The MPIJob's status follows the launcher Job: Created, Running,
Succeeded or Failed. Workers are left out: nothing runs mpirun here."""

from __future__ import annotations

import contextlib
import copy
import datetime
import threading
from typing import Any, Iterator

from kubernetes import client
from kubernetes.client.rest import ApiException

from tests.controlplane.kube import raw
from tests.realcluster.cluster_support import condition

GROUP, VERSION, PLURAL = "kubeflow.org", "v2beta1", "mpijobs"
ROLE = "training.kubeflow.org/job-role"


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def launcher_job(mpijob: dict[str, Any]) -> dict[str, Any]:
    name = mpijob["metadata"]["name"]
    template = copy.deepcopy(mpijob["spec"]["mpiReplicaSpecs"]["Launcher"]["template"])
    ours = {"training.kubeflow.org/job-name": name, "training.kubeflow.org/operator-name": "mpi-operator"}
    template.setdefault("metadata", {}).setdefault("labels", {}).update({**ours, ROLE: "launcher"})
    return {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": f"{name}-launcher", "labels": {**ours, ROLE: "launcher"},
                         "ownerReferences": [{"apiVersion": f"{GROUP}/{VERSION}", "kind": "MPIJob", "name": name,
                                              "uid": mpijob["metadata"]["uid"], "controller": True,
                                              "blockOwnerDeletion": True}]},
            "spec": {"backoffLimit": int((mpijob["spec"].get("runPolicy") or {}).get("backoffLimit") or 0),
                     "template": template}}


def _conditions(job: dict[str, Any]) -> list[dict[str, Any]]:
    now = _now()

    def cond(kind: str, status: bool, reason: str) -> dict[str, Any]:
        return {"type": kind, "status": "True" if status else "False", "reason": reason,
                "message": f"MPIJob {reason}", "lastTransitionTime": now, "lastUpdateTime": now}

    if condition(job, "Complete") == "True":
        return [cond("Created", True, "MPIJobCreated"), cond("Running", False, "MPIJobSucceeded"),
                cond("Succeeded", True, "MPIJobSucceeded")]
    if condition(job, "Failed") == "True":
        return [cond("Created", True, "MPIJobCreated"), cond("Running", False, "MPIJobFailed"),
                cond("Failed", True, "MPIJobFailed")]
    running = bool((job.get("status") or {}).get("active"))
    return [cond("Created", True, "MPIJobCreated"), cond("Running", running, "MPIJobRunning")]


def sync(api: client.ApiClient, namespace: str) -> None:
    """One pass over the namespace's MPIJobs."""
    objects, batch = client.CustomObjectsApi(api), client.BatchV1Api(api)
    for mpijob in raw(objects.list_namespaced_custom_object, GROUP, VERSION, namespace, PLURAL)["items"]:
        if mpijob["metadata"].get("deletionTimestamp"):
            continue
        name = mpijob["metadata"]["name"]
        try:
            job = raw(batch.read_namespaced_job, f"{name}-launcher", namespace)
        except ApiException as err:
            if err.status != 404:
                raise
            job = raw(batch.create_namespaced_job, namespace, launcher_job(mpijob))
        conditions = _conditions(job)
        old = {(c["type"], c["status"]) for c in (mpijob.get("status") or {}).get("conditions") or []}
        if old != {(c["type"], c["status"]) for c in conditions}:
            raw(objects.patch_namespaced_custom_object_status, GROUP, VERSION, namespace, PLURAL, name,
                {"status": {"conditions": conditions, "startTime": (mpijob.get("status") or {}).get("startTime") or _now()}})


@contextlib.contextmanager
def playing(api: client.ApiClient, namespace: str, interval: float = 0.5) -> Iterator[None]:
    """While open, a thread plays the MPI Operator for the namespace's MPIJobs."""
    stop = threading.Event()
    errors: list[BaseException] = []

    def loop() -> None:
        while not stop.wait(interval):
            try:
                sync(api, namespace)
            except ApiException as err:
                if err.status not in (404, 409):  # raced with a deletion or another write: next pass
                    errors.append(err)
                    return
            except BaseException as err:  # surfaced when the block ends
                errors.append(err)
                return

    thread = threading.Thread(target=loop, name=f"mpi-operator-{namespace}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(10)
    if errors:
        raise errors[0]
