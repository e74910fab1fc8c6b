"""The chart's RBAC grants exactly what operator/permissions.py lists: nothing more, nothing less,
no wildcards, and namespaced Roles when the operator watches chosen namespaces.

(That the list covers every request the running operator makes is proven in
test_helm_emulator_install.py, with RBAC enforced by the API emulator.)
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from rejoinder.operator.permissions import PERMISSIONS
from tests.helm.helm_support import NAMESPACE, REPO, by_kind, render
from tests.helm.rbac_support import Grants, RecordedRequest
from tests.helm.helm_values import NON_DEFAULT

RBAC_KINDS = {"Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"}


def _sync_module():
    spec = importlib.util.spec_from_file_location("sync_permissions", REPO / "helm" / "tools" / "sync_permissions.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _listed() -> set[tuple[str, str, str]]:
    return {(p.api_group, p.resource, verb) for p in PERMISSIONS for verb in p.verbs}


def _grants(values: dict | None, tmp_path: Path, sa: str) -> tuple[Grants, list[dict]]:
    docs = render(values, tmp_path)
    return Grants.from_objects([d for d in docs if d["kind"] in RBAC_KINDS], NAMESPACE, sa), docs


def _request(verb: str, group: str, resource: str, namespace: str) -> RecordedRequest:
    plural, _, sub = resource.partition("/")
    return RecordedRequest(verb=verb, group=group, resource=plural, subresource=sub, namespace=namespace, name="")


def test_chart_permissions_file_is_generated_from_the_operator_list() -> None:
    sync = _sync_module()
    assert sync.main(["--check"]) == 0, "run: python helm/tools/sync_permissions.py"


def test_scopes_in_the_operator_list_agree_with_kubernetes_discovery() -> None:
    derived = {(r["apiGroup"], r["resource"]): r["clusterScoped"] for r in _sync_module().rules(
        _sync_module().operator_permissions())}
    for p in PERMISSIONS:
        assert derived[(p.api_group, p.resource)] == p.cluster_scoped, f"{p.api_group}/{p.resource}"


def test_all_namespaces_grants_exactly_the_listed_permissions(tmp_path: Path) -> None:
    grants, docs = _grants(None, tmp_path, "rj-rejoinder")
    assert grants.triples() == _listed()
    assert not by_kind(docs, "Role") and not by_kind(docs, "RoleBinding")
    for group, resource, verb in _listed():  # anywhere, and across all namespaces
        assert grants.allows(_request(verb, group, resource, "any-namespace"))
        assert grants.allows(_request(verb, group, resource, ""))


def test_chosen_namespaces_get_roles_and_no_cluster_wide_namespaced_access(tmp_path: Path) -> None:
    grants, docs = _grants(NON_DEFAULT, tmp_path, NON_DEFAULT["serviceAccount"]["name"])
    watched = NON_DEFAULT["operator"]["watchNamespaces"]
    roles = by_kind(docs, "Role")
    assert sorted(r["metadata"]["namespace"] for r in roles) == sorted(watched)
    assert sorted(b["metadata"]["namespace"] for b in by_kind(docs, "RoleBinding")) == sorted(watched)
    assert grants.triples() == _listed()
    for p in PERMISSIONS:
        for verb in p.verbs:
            for namespace in watched:
                assert grants.allows(_request(verb, p.api_group, p.resource, namespace))
            # outside the watched namespaces, and across all namespaces, only cluster-scoped rules apply
            assert grants.allows(_request(verb, p.api_group, p.resource, "elsewhere")) == p.cluster_scoped
            if not p.cluster_scoped:
                assert not grants.allows(_request(verb, p.api_group, p.resource, ""))
    (cluster_role,) = by_kind(docs, "ClusterRole")
    cluster_resources = {(r["apiGroups"][0], r["resources"][0]) for r in cluster_role["rules"]}
    assert cluster_resources == {(p.api_group, p.resource) for p in PERMISSIONS if p.cluster_scoped}


@pytest.mark.parametrize("case", ["default", "non-default"])
def test_rules_are_explicit(case: str, tmp_path: Path) -> None:
    docs = render(NON_DEFAULT if case == "non-default" else None, tmp_path)
    rules = [rule for d in docs if d["kind"] in {"Role", "ClusterRole"} for rule in d["rules"]]
    assert rules
    for rule in rules:
        assert "*" not in rule["apiGroups"] + rule["resources"] + rule["verbs"], rule
        assert len(rule["resources"]) == 1 and len(rule["apiGroups"]) == 1, "one rule per resource"
        assert not {"escalate", "bind", "impersonate"} & set(rule["verbs"])
        assert "secrets" not in rule["resources"], "the operator never reads Secrets"
        assert "nonResourceURLs" not in rule and "aggregationRule" not in rule


def test_bindings_name_the_chart_service_account(tmp_path: Path) -> None:
    docs = render(NON_DEFAULT, tmp_path)
    (deployment,) = by_kind(docs, "Deployment")
    sa = deployment["spec"]["template"]["spec"]["serviceAccountName"]
    (account,) = by_kind(docs, "ServiceAccount")
    assert account["metadata"]["name"] == sa and account["metadata"]["namespace"] == NAMESPACE
    for binding in by_kind(docs, "RoleBinding") + by_kind(docs, "ClusterRoleBinding"):
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": sa, "namespace": NAMESPACE}]


def test_rbac_and_service_account_can_be_left_to_the_user(tmp_path: Path) -> None:
    docs = render({"rbac": {"create": False}, "serviceAccount": {"create": False, "name": "platform-sa"}}, tmp_path)
    assert not [d for d in docs if d["kind"] in RBAC_KINDS | {"ServiceAccount"}]
    (deployment,) = by_kind(docs, "Deployment")
    assert deployment["spec"]["template"]["spec"]["serviceAccountName"] == "platform-sa"


def test_the_authorizer_refuses_what_is_not_granted() -> None:
    """Grants is not vacuous: it refuses another verb, resource, group, namespace or subresource."""
    rules = [{"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get"]}]
    grants = Grants(namespaced={"dialog": rules})
    assert grants.allows(_request("get", "apps", "deployments", "dialog"))
    for request in (_request("list", "apps", "deployments", "dialog"), _request("get", "apps", "statefulsets", "dialog"),
                    _request("get", "", "deployments", "dialog"), _request("get", "apps", "deployments", "other"),
                    _request("get", "apps", "deployments", ""), _request("get", "apps", "deployments/scale", "dialog")):
        assert not grants.allows(request), request


def test_emulator_enforces_owner_references_permission() -> None:
    """OwnerReferencesPermissionEnforcement: blockOwnerDeletion needs update on the owner's finalizers."""
    from tests.helm.rbac_support import RBAC_GROUP, RbacEmulator, RbacEmulatorThread
    from k8s_emulator import ApiFailure, Client

    with RbacEmulatorThread(RbacEmulator(sa_namespace="ops", sa_name="op")) as thread:
        admin = thread.client
        admin.apply_file(REPO / "crds" / "dialogmodel.yaml")
        owner = admin.create({"apiVersion": "rejoinder.dev/v1alpha1", "kind": "DialogModel",
                              "metadata": {"name": "owner", "namespace": "work"},
                              "spec": {"task": "retrieval", "data": {"preset": "chatterbot"}}}, "dialogmodels")
        rules = [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["create"]}]
        admin.request("POST", "/apis/rbac.authorization.k8s.io/v1/namespaces/work/roles",
                      {"apiVersion": f"{RBAC_GROUP}/v1", "kind": "Role", "metadata": {"name": "r", "namespace": "work"},
                       "rules": rules})
        admin.request("POST", "/apis/rbac.authorization.k8s.io/v1/namespaces/work/rolebindings",
                      {"apiVersion": f"{RBAC_GROUP}/v1", "kind": "RoleBinding", "metadata": {"name": "r", "namespace": "work"},
                       "roleRef": {"apiGroup": RBAC_GROUP, "kind": "Role", "name": "r"},
                       "subjects": [{"kind": "ServiceAccount", "name": "op", "namespace": "ops"}]})
        subject = Client(thread.subject_url)

        def child(name: str, block: bool) -> dict:
            ref = {"apiVersion": owner["apiVersion"], "kind": "DialogModel", "name": "owner",
                   "uid": owner["metadata"]["uid"], "controller": True, "blockOwnerDeletion": block}
            return {"apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": name, "namespace": "work", "ownerReferences": [ref]}}

        assert subject.create(child("loose", block=False), "configmaps")
        with pytest.raises(ApiFailure) as refused:
            subject.create(child("blocking", block=True), "configmaps")
        assert refused.value.code == 403 and "dialogmodels/finalizers" in refused.value.body["message"]
        rules.append({"apiGroups": ["rejoinder.dev"], "resources": ["dialogmodels/finalizers"], "verbs": ["update"]})
        admin.patch(f"{RBAC_GROUP}/v1", "roles", "work", "r", {"rules": rules})
        assert subject.create(child("blocking", block=True), "configmaps")
