"""Every (API group, resource, verbs) the operator's code uses: kopf's watches and patches, the
children it creates, reads and deletes, pod logs and Events. The Helm chart's RBAC is generated
from this list, and the e2e tests check every request the operator makes against it.
"""

from __future__ import annotations

from dataclasses import dataclass

CHILD_VERBS = ("get", "list", "watch", "create", "patch", "delete")


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
    Permission("", "configmaps", CHILD_VERBS, "the spec handed to pods, one per model version"),
    Permission("batch", "jobs", ("get", "list", "watch", "create", "delete"),
               "training (one worker), index build and artifact cleanup Jobs"),
    Permission("kubeflow.org", "mpijobs", ("get", "list", "create", "delete"), "training with several workers"),
    Permission("apps", "deployments", CHILD_VERBS, "model servers; replicas set by the autoscaler"),
    Permission("", "services", CHILD_VERBS, "the model servers' gRPC and metrics endpoint"),
    Permission("policy", "poddisruptionbudgets", CHILD_VERBS, "keep model servers up during node drains"),
    Permission("autoscaling", "horizontalpodautoscalers", ("get", "list", "create", "patch", "delete"),
               "serving.autoscaling.engine hpa; the built-in autoscaler stands aside when another HPA targets a server"),
    Permission("keda.sh", "scaledobjects", ("get", "list", "create", "patch", "delete"),
               "serving.autoscaling.engine keda; the built-in autoscaler stands aside when a ScaledObject targets a server"),
    Permission("", "pods", ("get", "list", "watch"),
               "training progress and failures, readiness of model servers, their metrics addresses"),
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


def as_rules() -> list[dict[str, object]]:
    """The list as plain data (what helm/tools/sync_permissions.py writes into the chart)."""
    return [{"apiGroup": p.api_group, "resource": p.resource, "verbs": list(p.verbs),
             "clusterScoped": p.cluster_scoped} for p in PERMISSIONS]
