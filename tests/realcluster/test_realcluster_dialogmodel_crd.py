"""The project's own CRD on the real apiserver. Found by this harness: Kubernetes 1.36 refuses
crds/dialogmodel.yaml (422) because it checks each `default` against the CEL rules at that level,
and the `default: {}` of spec.index.ivf, spec.serving and spec.model.bert lacks the keys their
rules read ("no such key: nprobe"). The API emulator (tests/k8s_emulator) accepts the CRD. Kept as
a strict xfail so that the fix (rejoinder/api/crd.py) turns it into a failure to remove."""

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


@pytest.mark.xfail(strict=True, raises=ApiException,
                   reason="Kubernetes 1.36 validates `default: {}` against CEL rules that read absent keys")
@pytest.mark.parametrize("path", ["crds/dialogmodel.yaml", "helm/rejoinder/crds/dialogmodel.yaml"])
def test_the_dialogmodel_crd_is_accepted(control_plane: ControlPlane, path: str) -> None:
    (doc,) = crds.load(REPO / path)
    ext = client.ApiextensionsV1Api(control_plane.api())
    try:
        raw(ext.create_custom_resource_definition, body=doc, dry_run="All")  # dry run: nothing is stored
    except ApiException as err:
        assert err.status == 422 and "no such key" in str(err.body), err.body  # the known cause, no other
        raise
