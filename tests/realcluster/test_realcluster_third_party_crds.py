"""The third-party CRDs the chart and the operator create objects of (MPIJob, ScaledObject,
ServiceMonitor, PrometheusRule) install on the real apiserver, and the committed copies are the
files of their pinned Go modules."""

from __future__ import annotations

import copy
import hashlib
import importlib.util
import json
import os
import shutil
from pathlib import Path
from types import ModuleType

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from tests.controlplane import crds
from tests.controlplane.cluster import ControlPlane
from tests.controlplane.fixtures import REQUIRE
from tests.controlplane.kube import raw
from tests.realcluster.cluster_support import container

HERE = Path(__file__).resolve().parents[1] / "support" / "third_party_crds"
PROVENANCE = json.loads((HERE / "provenance.json").read_text())["files"]


def _refresh() -> ModuleType:
    spec = importlib.util.spec_from_file_location("refresh_crds", HERE / "refresh.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("entry", PROVENANCE, ids=lambda e: e["file"])
def test_the_copies_have_their_recorded_hashes(entry: dict[str, str]) -> None:
    assert hashlib.sha256((HERE / entry["file"]).read_bytes()).hexdigest() == entry["sha256"]


@pytest.mark.realcluster
def test_the_copies_are_their_modules_files() -> None:
    if not (shutil.which("go") or os.access("/usr/local/go/bin/go", os.X_OK)):
        message = "needs Go to download the modules (tests/support/third_party_crds/refresh.py --check)"
        if os.environ.get(REQUIRE) == "1":
            pytest.fail(message)
        pytest.skip(message)
    assert _refresh().differences() == []


def mpijob(name: str) -> dict[str, object]:
    template = {"spec": {"containers": [container("mpi")]}}
    return {"apiVersion": "kubeflow.org/v2beta1", "kind": "MPIJob", "metadata": {"name": name},
            "spec": {"slotsPerWorker": 1, "runPolicy": {"cleanPodPolicy": "Running"},
                     "mpiReplicaSpecs": {"Launcher": {"replicas": 1, "template": template},
                                         "Worker": {"replicas": 2, "template": template}}}}


@pytest.mark.realcluster
def test_they_install_and_serve_objects(control_plane: ControlPlane, namespace: str) -> None:
    api = control_plane.api()
    names = crds.install(api, [doc for e in PROVENANCE for doc in crds.load(HERE / e["file"])])
    assert sorted(names) == ["mpijobs.kubeflow.org", "prometheusrules.monitoring.coreos.com",
                             "scaledobjects.keda.sh", "servicemonitors.monitoring.coreos.com"]
    objects = client.CustomObjectsApi(api)
    created = raw(objects.create_namespaced_custom_object, "kubeflow.org", "v2beta1", namespace, "mpijobs",
                  mpijob("ok"))
    assert created["spec"]["mpiImplementation"] == "OpenMPI"  # the CRD's default, filled in by the apiserver

    # The MPIJob schema prunes unknown fields: by default a typo is dropped (with a warning) ...
    typo = mpijob("typo")
    typo["spec"]["slotPerWorker"] = 8  # type: ignore[index]
    stored = raw(objects.create_namespaced_custom_object, "kubeflow.org", "v2beta1", namespace, "mpijobs",
                 copy.deepcopy(typo))
    assert "slotPerWorker" not in stored["spec"]
    # ... and only fieldValidation=Strict refuses it (what tests/support/mpijob_schema.py checks)
    typo["metadata"]["name"] = "typo-strict"  # type: ignore[index]
    with pytest.raises(ApiException) as refused:
        objects.create_namespaced_custom_object("kubeflow.org", "v2beta1", namespace, "mpijobs", typo,
                                                field_validation="Strict")
    assert refused.value.status == 400 and "slotPerWorker" in str(refused.value.body)
