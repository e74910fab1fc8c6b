"""The real controllers run: kube-scheduler places pods, the deployment/replicaset controllers
make Ready pods (kwok moves them through their phases), the job controller completes a Job, and
the garbage collector deletes the children of a deleted owner."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client

from tests.controlplane import kwok
from tests.controlplane.cluster import ControlPlane, wait_for
from tests.controlplane.kube import raw
from tests.realcluster.cluster_support import condition, container, pods, wait_object

pytestmark = pytest.mark.realcluster


def deployment(name: str, replicas: int) -> dict[str, Any]:
    labels = {"app": name}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels}, "spec": {"containers": [container()]}}}}


def job(name: str, backoff_limit: int = 0) -> dict[str, Any]:
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name},
            "spec": {"backoffLimit": backoff_limit,
                     "template": {"spec": {"restartPolicy": "Never", "containers": [container("train")]}}}}


def test_a_deployment_becomes_available(control_plane: ControlPlane, namespace: str) -> None:
    api = control_plane.api()
    apps = client.AppsV1Api(api)
    raw(apps.create_namespaced_deployment, namespace, deployment("web", 2))
    done = wait_object("deployment available", lambda: raw(apps.read_namespaced_deployment, "web", namespace),
                       lambda d: (d.get("status") or {}).get("readyReplicas") == 2)
    assert condition(done, "Available") == "True"
    assert done["status"]["observedGeneration"] == done["metadata"]["generation"]
    running = pods(api, namespace, "app=web")
    assert len(running) == 2
    for pod in running:
        assert pod["spec"]["nodeName"] in {"gpu-node-0", "gpu-node-1", "cpu-node-0"}  # the scheduler's choice
        assert pod["status"]["phase"] == "Running" and condition(pod, "Ready") == "True"
        owner = pod["metadata"]["ownerReferences"][0]
        assert owner["kind"] == "ReplicaSet" and owner["controller"] is True
        # the apiserver's defaults, which no emulator-built object has
        assert pod["spec"]["terminationGracePeriodSeconds"] == 30 and pod["spec"]["dnsPolicy"] == "ClusterFirst"


def test_the_scheduler_places_gpu_pods_on_gpu_nodes_only_while_gpus_are_free(control_plane: ControlPlane,
                                                                              namespace: str) -> None:
    api = control_plane.api()
    core = client.CoreV1Api(api)
    for name, gpus in (("fits", 8), ("too-big", 9)):
        spec = container()
        spec["resources"] = {"limits": {"nvidia.com/gpu": str(gpus)}}
        raw(core.create_namespaced_pod, namespace, {"metadata": {"name": name}, "spec": {"containers": [spec]}})
    fits = wait_object("gpu pod running", lambda: raw(core.read_namespaced_pod, "fits", namespace),
                       lambda p: (p.get("status") or {}).get("phase") == "Running")
    assert fits["spec"]["nodeName"] in {"gpu-node-0", "gpu-node-1"}
    too_big = wait_object("unschedulable", lambda: raw(core.read_namespaced_pod, "too-big", namespace),
                          lambda p: condition(p, "PodScheduled") == "False")
    assert "nodeName" not in too_big["spec"] and too_big["status"]["phase"] == "Pending"
    reason = next(c for c in too_big["status"]["conditions"] if c["type"] == "PodScheduled")
    assert reason["reason"] == "Unschedulable" and "nvidia.com/gpu" in reason["message"]


def test_a_job_completes(control_plane: ControlPlane, namespace: str) -> None:
    api = control_plane.api()
    batch = client.BatchV1Api(api)
    raw(batch.create_namespaced_job, namespace, job("train"))
    done = wait_object("job complete", lambda: raw(batch.read_namespaced_job, "train", namespace),
                       lambda j: condition(j, "Complete") == "True")
    assert done["status"]["succeeded"] == 1
    (pod,) = pods(api, namespace, "batch.kubernetes.io/job-name=train")
    assert pod["status"]["phase"] == "Succeeded"
    assert pod["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 0


def test_a_test_can_fail_a_job_and_leave_a_termination_message(control_plane: ControlPlane, namespace: str) -> None:
    api = control_plane.api()
    batch = client.BatchV1Api(api)
    message = 'REJOINDER_METRICS {"recall@1": 0.25}'
    with kwok.pod_outcome(api, namespace, exit_code=3, message=message):
        raw(batch.create_namespaced_job, namespace, job("doomed"))
        failed = wait_object("job failed", lambda: raw(batch.read_namespaced_job, "doomed", namespace),
                             lambda j: condition(j, "Failed") == "True")
    assert failed["status"].get("failed") == 1 and not failed["status"].get("succeeded")
    (pod,) = pods(api, namespace, "batch.kubernetes.io/job-name=doomed")
    terminated = pod["status"]["containerStatuses"][0]["state"]["terminated"]
    assert pod["status"]["phase"] == "Failed"
    assert (terminated["exitCode"], terminated["message"]) == (3, message)


def test_deleting_an_owner_makes_the_garbage_collector_delete_its_children(control_plane: ControlPlane,
                                                                           namespace: str) -> None:
    api = control_plane.api()
    apps = client.AppsV1Api(api)
    raw(apps.create_namespaced_deployment, namespace, deployment("gone", 2))
    wait_for("two pods", lambda: len(pods(api, namespace, "app=gone")) == 2, timeout=120)
    assert raw(apps.list_namespaced_replica_set, namespace)["items"]
    # Background: the Deployment goes at once, the garbage collector then removes the ReplicaSet
    # (its owner is gone) and that one's pods (kwok finishes their deletion, as a kubelet would)
    apps.delete_namespaced_deployment("gone", namespace, propagation_policy="Background")
    wait_for("replicasets collected", lambda: raw(apps.list_namespaced_replica_set, namespace)["items"] == [],
             timeout=120)
    wait_for("pods collected", lambda: pods(api, namespace, "app=gone") == [], timeout=120)
