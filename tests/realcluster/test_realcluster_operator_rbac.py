"""RBAC is really in force for the operator's token: with the chart's ClusterRole less one rule
(update on dialogmodels/finalizers, which OwnerReferencesPermissionEnforcement requires for a
child whose ownerReference sets blockOwnerDeletion), the apiserver refuses the operator's first
child, the operator reports the refusal on the DialogModel, and the audit log — what the
`operator` fixture checks after every test — shows the 403s. The emulator enforces neither."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Iterator

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from tests.controlplane import audit
from tests.controlplane.cluster import ControlPlane, wait_for
from tests.controlplane.kube import raw
from tests.realcluster import dialogmodels as dm
from tests.realcluster.chart import Release
from tests.realcluster.operator_process import OperatorProcess

pytestmark = pytest.mark.realcluster
DROPPED = ("rejoinder.dev", "dialogmodels/finalizers")


@pytest.fixture
def trimmed_account(control_plane: ControlPlane, chart: Release, namespace: str) -> Iterator[Release]:
    """A ServiceAccount bound to a copy of the chart's ClusterRole without the DROPPED rule."""
    api = control_plane.api()
    rbac = client.RbacAuthorizationV1Api(api)
    role = raw(rbac.read_cluster_role, chart.cluster_role)
    rules = [r for r in copy.deepcopy(role["rules"]) if (r["apiGroups"][0], r["resources"][0]) != DROPPED]
    assert len(rules) == len(role["rules"]) - 1
    name = f"trimmed-{namespace}"
    raw(client.CoreV1Api(api).create_namespaced_service_account, namespace, {"metadata": {"name": "trimmed"}})
    raw(rbac.create_cluster_role, {"metadata": {"name": name}, "rules": rules})
    raw(rbac.create_cluster_role_binding, {
        "metadata": {"name": name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
        "subjects": [{"kind": "ServiceAccount", "name": "trimmed", "namespace": namespace}]})
    try:
        yield Release(name=chart.name, namespace=namespace, service_account="trimmed", cluster_role=name)
    finally:
        for delete in (rbac.delete_cluster_role_binding, rbac.delete_cluster_role):
            try:
                delete(name)
            except ApiException:
                pass


def test_a_rule_missing_from_the_role_is_refused_and_seen(control_plane: ControlPlane, namespace: str,
                                                          artifacts: str, trimmed_account: Release,
                                                          chart_environment: dict[str, str], tmp_path: Path) -> None:
    api = control_plane.api()
    log = audit.AuditLog(control_plane.audit.log).mark()
    operator = OperatorProcess(control_plane, trimmed_account, namespace, tmp_path, chart_environment).start()
    try:
        dm.create(api, namespace, dm.small("iota", artifacts))
        refused = wait_for("a refusal in the audit log", lambda: log.refused(trimmed_account.user), timeout=120)
        status = dm.wait_status(api, namespace, "iota", lambda s: dm.condition(s, "Trained").get("reason")
                                == "ChildRejected", "the refusal reported", give_up=())
    finally:
        operator.stop()
    first: Any = refused[0]
    assert (first.verb, first.namespace) == ("create", namespace) and first.resource in ("configmaps", "jobs")
    message = dm.condition(status, "Trained")["message"]
    assert "403 Forbidden" in message and "blockOwnerDeletion" in message
    assert not dm.children(api, namespace, "iota", "Job")
