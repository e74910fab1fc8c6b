"""The ReadWriteMany claim a DialogModel's pods mount (spec.storage.persistentVolumeClaim), bound
by the real persistent-volume binder to a volume made for it. kwok mounts nothing: the claim only
has to be Bound for the scheduler to place the pods."""

from __future__ import annotations

import contextlib
from typing import Iterator

from kubernetes import client
from kubernetes.client.rest import ApiException

from tests.controlplane.kube import raw
from tests.realcluster.cluster_support import wait_object


@contextlib.contextmanager
def bound_claim(api: client.ApiClient, namespace: str, name: str) -> Iterator[str]:
    core = client.CoreV1Api(api)
    volume = f"{namespace}-{name}"[:253]
    raw(core.create_persistent_volume, {
        "apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": volume},
        "spec": {"capacity": {"storage": "10Gi"}, "accessModes": ["ReadWriteMany"], "storageClassName": "",
                 "persistentVolumeReclaimPolicy": "Retain", "nfs": {"server": "nfs.invalid", "path": "/rejoinder"},
                 "claimRef": {"namespace": namespace, "name": name}}})
    try:
        raw(core.create_namespaced_persistent_volume_claim, namespace, {
            "apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": name},
            "spec": {"accessModes": ["ReadWriteMany"], "storageClassName": "", "volumeName": volume,
                     "resources": {"requests": {"storage": "10Gi"}}}})
        wait_object(f"claim {name} bound", lambda: raw(core.read_namespaced_persistent_volume_claim, name, namespace),
                    lambda c: (c.get("status") or {}).get("phase") == "Bound")
        yield name
    finally:
        with contextlib.suppress(ApiException):  # goes once the claim has (pv-protection finalizer)
            core.delete_persistent_volume(volume)
