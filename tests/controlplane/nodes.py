"""Fake Nodes that kwok keeps Ready: created by the test with the capacity it wants (kwok keeps
a node's capacity and fills in conditions, addresses and the kubelet endpoint)."""

from __future__ import annotations

import time
from typing import Any

from kubernetes import client

from .kube import raw

GPU = "nvidia.com/gpu"


def node(name: str, *, cpu: str = "16", memory: str = "64Gi", gpus: int = 0, pods: int = 110,
         labels: dict[str, str] | None = None) -> dict[str, Any]:
    capacity = {"cpu": cpu, "memory": memory, "pods": str(pods), "ephemeral-storage": "100Gi"}
    if gpus:
        capacity[GPU] = str(gpus)
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
                                                  "kubernetes.io/arch": "amd64", "type": "kwok", **(labels or {})},
                         # kwok's own convention for nodes it plays
                         "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"}},
            "status": {"capacity": capacity, "allocatable": dict(capacity)}}


def ready(obj: dict[str, Any]) -> bool:
    conditions = (obj.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def create(api: client.ApiClient, nodes: list[dict[str, Any]], timeout: float = 60.0) -> None:
    """Create the nodes and wait until kwok reports each Ready."""
    core = client.CoreV1Api(api)
    for body in nodes:
        raw(core.create_node, body)
    deadline = time.monotonic() + timeout
    for body in nodes:
        while not ready(raw(core.read_node, body["metadata"]["name"])):
            if time.monotonic() > deadline:
                raise TimeoutError(f"node {body['metadata']['name']} not Ready after {timeout:.0f} s")
            time.sleep(0.2)
