"""RBAC is enforced for a ServiceAccount's token from the TokenRequest API: what its Role grants
is allowed, anything else is 403 — the setting in which the operator runs with the chart's RBAC —
and the apiserver's audit log records each answer."""

from __future__ import annotations

from pathlib import Path

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from tests.controlplane import audit, tokens
from tests.controlplane.cluster import ControlPlane
from tests.controlplane.kube import api_client, raw

pytestmark = pytest.mark.realcluster


def test_a_service_account_token_gets_exactly_its_role(control_plane: ControlPlane, namespace: str,
                                                       tmp_path: Path) -> None:
    admin = control_plane.api()
    core, rbac = client.CoreV1Api(admin), client.RbacAuthorizationV1Api(admin)
    raw(core.create_namespaced_service_account, namespace, {"metadata": {"name": "reader"}})
    raw(rbac.create_namespaced_role, namespace, {
        "metadata": {"name": "read-configmaps"},
        "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}]})
    raw(rbac.create_namespaced_role_binding, namespace, {
        "metadata": {"name": "reader"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "read-configmaps"},
        "subjects": [{"kind": "ServiceAccount", "name": "reader", "namespace": namespace}]})
    raw(core.create_namespaced_config_map, namespace, {"metadata": {"name": "settings"}, "data": {"a": "1"}})

    log = audit.AuditLog(control_plane.audit.log).mark()
    kubeconfig = tokens.service_account_kubeconfig(admin, control_plane.server, control_plane.ca.cert,
                                                   tmp_path / "reader.kubeconfig", namespace, "reader")
    reader = client.CoreV1Api(api_client(kubeconfig))
    review = raw(client.AuthenticationV1Api(admin).create_token_review, {
        "spec": {"token": tokens.token(admin, namespace, "reader")}})
    assert review["status"]["user"]["username"] == f"system:serviceaccount:{namespace}:reader"

    assert raw(reader.read_namespaced_config_map, "settings", namespace)["data"] == {"a": "1"}
    with pytest.raises(ApiException) as refused:
        reader.delete_namespaced_config_map("settings", namespace)
    assert refused.value.status == 403
    with pytest.raises(ApiException) as elsewhere:  # a Role grants nothing outside its namespace
        reader.list_namespaced_config_map("default")
    assert elsewhere.value.status == 403
    # the audit log (tests/controlplane/audit.py) has both refusals, and the allowed read
    user = f"system:serviceaccount:{namespace}:reader"
    assert {(r.verb, r.resource, r.namespace, r.code) for r in log.requests(user)} >= {
        ("get", "configmaps", namespace, 200), ("delete", "configmaps", namespace, 403),
        ("list", "configmaps", "default", 403)}
    assert len(log.refused(user)) == 2
