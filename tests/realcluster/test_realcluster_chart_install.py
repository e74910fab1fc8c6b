"""`helm install` of the chart on the real apiserver: the release is deployed, the DialogModel CRD
from crds/ is Established with its printer columns, and the operator's RBAC is what
operator/permissions.py lists (helm/rejoinder/files/operator-permissions.yaml)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from kubernetes import client

from tests.controlplane import crds
from tests.controlplane.cluster import ControlPlane
from tests.controlplane.kube import raw
from tests.realcluster import chart as chart_install
from tests.realcluster.chart import Release
from tests.realcluster.cluster_support import REPO, condition

pytestmark = pytest.mark.realcluster


def test_the_release_is_deployed(control_plane: ControlPlane, chart: Release, tmp_path: Path) -> None:
    done = chart_install.helm(control_plane.admin_kubeconfig, tmp_path, "status", chart.name, "-n", chart.namespace,
                              "-o", "json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["info"]["status"] == "deployed"
    # --wait saw the operator's Deployment available: kwok runs its pod (no image runs here)
    deployment = raw(client.AppsV1Api(control_plane.api()).read_namespaced_deployment, chart.name, chart.namespace)
    assert condition(deployment, "Available") == "True"


def test_the_crd_is_established_as_committed(control_plane: ControlPlane, chart: Release) -> None:
    crd = raw(client.ApiextensionsV1Api(control_plane.api()).read_custom_resource_definition,
              "dialogmodels.rejoinder.dev")
    assert crds.established(crd)
    (committed,) = crds.load(REPO / "helm" / "rejoinder" / "crds" / "dialogmodel.yaml")
    served = crd["spec"]["versions"][0]
    assert [c["name"] for c in served["additionalPrinterColumns"]] == \
        [c["name"] for c in committed["spec"]["versions"][0]["additionalPrinterColumns"]]
    assert crd["spec"]["names"]["shortNames"] == ["dm"]


def test_the_operators_cluster_role_is_the_permissions_file(control_plane: ControlPlane, chart: Release) -> None:
    role = raw(client.RbacAuthorizationV1Api(control_plane.api()).read_cluster_role, chart.cluster_role)
    granted = {(r["apiGroups"][0], r["resources"][0], tuple(r["verbs"])) for r in role["rules"]}
    listed = yaml.safe_load((REPO / "helm" / "rejoinder" / "files" / "operator-permissions.yaml").read_text())
    assert granted == {(r["apiGroup"], r["resource"], tuple(r["verbs"])) for r in listed["rules"]}
    assert all("*" not in r["verbs"] and "*" not in r["resources"] for r in role["rules"])
