"""Every (API group, resource, verbs) the operator's code uses: kopf's watches and patches, the
children it creates, reads and deletes (their rows come from the table in child_kinds.py), pod
logs and Events. The Helm chart's RBAC is generated from this list, and the e2e tests check every
request the operator makes against it.
"""

from __future__ import annotations

from dataclasses import dataclass

from .child_kinds import CHILD_KINDS


@dataclass(frozen=True)
class Permission:
    api_group: str  # "" is the core API
    resource: str  # plural, or plural/subresource
    verbs: tuple[str, ...]
    why: str
    cluster_scoped: bool = False

    def allows(self, verb: str, api_group: str, resource: str, subresource: str = "") -> bool:
        full = f"{resource}/{subresource}" if subresource else resource
        return self.api_group == api_group and self.resource == full and verb in self.verbs


PERMISSIONS: tuple[Permission, ...] = (
    Permission("rejoinder.dev", "dialogmodels", ("get", "list", "watch", "patch"),
               "kopf watches DialogModels and keeps its finalizer and progress annotations on them"),
    Permission("rejoinder.dev", "dialogmodels/status", ("get", "patch"), "phase, conditions, versions, RPS"),
    Permission("rejoinder.dev", "dialogmodels/finalizers", ("update",),
               "children's ownerReferences set blockOwnerDeletion, which OwnerReferencesPermissionEnforcement "
               "(OpenShift's default) allows only with update on the owner's finalizers"),
    *(Permission(k.group, k.plural, k.verbs, k.why, cluster_scoped=not k.namespaced) for k in CHILD_KINDS),
    Permission("", "pods/log", ("get",), "REJOINDER_PROGRESS / REJOINDER_METRICS lines and failed jobs' last lines"),
    Permission("", "events", ("create",), "an Event for every phase and condition transition"),
    Permission("", "namespaces", ("get", "list", "watch"),
               "kopf follows the watched namespaces (optional: without it kopf assumes they exist)",
               cluster_scoped=True),
    Permission("apiextensions.k8s.io", "customresourcedefinitions", ("get", "list", "watch"),
               "kopf notices CRDs (e.g. MPIJob) installed while it runs", cluster_scoped=True),
)


def allowed(verb: str, api_group: str, resource: str, subresource: str = "") -> bool:
    return any(p.allows(verb, api_group, resource, subresource) for p in PERMISSIONS)

