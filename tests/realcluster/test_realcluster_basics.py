"""The fixture's cluster is a real one: the pinned Kubernetes version, Ready nodes with GPUs, and
`kubectl` (the one the chart tests use) talks to it."""

from __future__ import annotations

import json
import subprocess

import pytest
from kubernetes import client

from tests.controlplane import nodes
from tests.controlplane.cluster import ControlPlane
from tests.controlplane.kube import raw
from tests.realcluster.cluster_support import REPO, condition, helm_bin_dir, pinned_kubernetes

pytestmark = pytest.mark.realcluster


def test_version_is_the_pinned_release(control_plane: ControlPlane) -> None:
    version = raw(client.VersionApi(control_plane.api()).get_code)
    assert version["gitVersion"] == pinned_kubernetes()
    assert (version["major"], version["minor"]) == ("1", pinned_kubernetes().split(".")[1])
    assert version["gitTreeState"] == "clean"


def test_nodes_are_ready_with_gpus(control_plane: ControlPlane) -> None:
    found = {n["metadata"]["name"]: n for n in raw(client.CoreV1Api(control_plane.api()).list_node)["items"]}
    assert {"gpu-node-0", "gpu-node-1", "cpu-node-0"} <= set(found)
    for name, node in found.items():
        assert condition(node, "Ready") == "True", name
        # kwok plays the kubelet: its endpoint is where pods/log goes
        assert node["status"]["daemonEndpoints"]["kubeletEndpoint"]["Port"] == control_plane.ports.kwok
    assert found["gpu-node-0"]["status"]["allocatable"][nodes.GPU] == "8"
    assert nodes.GPU not in found["cpu-node-0"]["status"]["allocatable"]


def test_kubectl_gets_nodes_with_the_admin_kubeconfig(control_plane: ControlPlane) -> None:
    done = subprocess.run([str(helm_bin_dir() / "kubectl"), "--kubeconfig", str(control_plane.admin_kubeconfig),
                           "get", "nodes", "-o", "json"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    names = {item["metadata"]["name"] for item in json.loads(done.stdout)["items"]}
    assert {"gpu-node-0", "gpu-node-1", "cpu-node-0"} <= names


def test_helm_accepts_the_clusters_version(control_plane: ControlPlane, namespace: str) -> None:
    """The chart's kubeVersion (>=1.30.0-0) is checked against /version: it would refuse a v0.0.0
    build. A server-side dry run stores nothing (and skips crds/, see the DialogModel CRD test)."""
    done = subprocess.run([str(helm_bin_dir() / "helm"), "install", "rj", str(REPO / "helm" / "rejoinder"),
                           "--namespace", namespace, "--dry-run=server",
                           "--kubeconfig", str(control_plane.admin_kubeconfig)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "Dry run complete" in done.stdout


def test_no_component_has_exited(control_plane: ControlPlane) -> None:
    assert control_plane.exited() == []
