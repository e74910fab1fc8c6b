"""The project's own CRD on the real apiserver. Found by this harness: Kubernetes 1.36 refused
crds/dialogmodel.yaml (422) because it checks each `default` against the CEL rules at that level
without filling in the nested defaults first, and the `default: {}` of spec.index.ivf,
spec.serving and spec.model.bert lacked the keys their rules read ("no such key: nprobe"). The API
emulator (tests/k8s_emulator) accepted it. rejoinder/api/crd.py now writes each object's default
in full; both copies of the CRD must pass the apiserver's own checks."""

from __future__ import annotations

from pathlib import Path

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from tests.controlplane import crds
from tests.controlplane.cluster import ControlPlane
from tests.controlplane.kube import raw

pytestmark = pytest.mark.realcluster
REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("path", ["crds/dialogmodel.yaml", "helm/rejoinder/crds/dialogmodel.yaml"])
def test_the_dialogmodel_crd_is_accepted(control_plane: ControlPlane, path: str) -> None:
    (doc,) = crds.load(REPO / path)
    ext = client.ApiextensionsV1Api(control_plane.api())
    # dry runs store nothing; the chart's install may have created it already in this session:
    # then a replace goes through the same validation
    try:
        current = raw(ext.read_custom_resource_definition, doc["metadata"]["name"])
    except ApiException as err:
        assert err.status == 404, err
        stored = raw(ext.create_custom_resource_definition, body=doc, dry_run="All")
    else:
        doc["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
        stored = raw(ext.replace_custom_resource_definition, doc["metadata"]["name"], body=doc, dry_run="All")
    assert stored["metadata"]["name"] == "dialogmodels.rejoinder.dev"
    served = stored["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
    assert served["index"]["properties"]["ivf"]["default"] == {"nlist": 1024, "nprobe": 64}
