"""The kinds of object the operator makes or watches for a DialogModel, in one table.

Everything that lists them reads this table: the kopf indexes and their label-selected watches
(handlers.py), the child events that trigger a reconcile, the paths of creates, patches and
deletes (planner.py, reconcile.py), the explicit cleanup on deletion (deletion.py) and the
RBAC rules (permissions.py, from which helm/tools/sync_permissions.py writes the chart's).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Optional

CHILD_VERBS = ("get", "list", "watch", "create", "patch", "delete")


class Cleanup(str, enum.Enum):
    """What happens to a child when its DialogModel is deleted."""

    # Deleted by the operator at once (owner references let the garbage collector do it too, later).
    DELETE = "delete"
    # Left to the garbage collector: owner references (its own or, for pods, its Job's/ReplicaSet's).
    GARBAGE_COLLECTED = "garbage-collected"


@dataclass(frozen=True)
class ChildKind:
    kind: str
    api_version: str  # "v1" for the core API, else "<group>/<version>"
    plural: str
    verbs: tuple[str, ...]  # what the operator's code does with them (its RBAC)
    why: str  # the RBAC rule's reason
    cleanup: Cleanup = Cleanup.GARBAGE_COLLECTED
    # The kopf index holding them by model (their watch is label-selected to the operator's own);
    # None: not watched, read from the API server when needed.
    index: Optional[str] = None
    reconcile_on_change: bool = False  # a change (a Job finishing, pods ready) reconciles its model now
    optional_api: bool = False  # a CRD that may be absent: asked for in discovery before use
    namespaced: bool = True

    @property
    def group(self) -> str:
        return self.api_version.rpartition("/")[0]

    @property
    def version(self) -> str:
        return self.api_version.rpartition("/")[2]


# In the order DialogModel deletion removes them: the model servers first, their inputs last.
CHILD_KINDS: tuple[ChildKind, ...] = (
    ChildKind("Deployment", "apps/v1", "deployments", CHILD_VERBS, "model servers; replicas set by the autoscaler",
              cleanup=Cleanup.DELETE, index="rejoinder_deployments", reconcile_on_change=True),
    ChildKind("Service", "v1", "services", CHILD_VERBS, "the model servers' gRPC and metrics endpoint",
              cleanup=Cleanup.DELETE, index="rejoinder_services"),
    ChildKind("PodDisruptionBudget", "policy/v1", "poddisruptionbudgets", CHILD_VERBS,
              "keep model servers up during node drains", cleanup=Cleanup.DELETE, index="rejoinder_pdbs"),
    ChildKind("Job", "batch/v1", "jobs", ("get", "list", "watch", "create", "delete"),
              "training (one worker), index build and artifact cleanup Jobs",
              cleanup=Cleanup.DELETE, index="rejoinder_jobs", reconcile_on_change=True),
    ChildKind("ConfigMap", "v1", "configmaps", CHILD_VERBS, "the spec handed to pods, one per model version",
              cleanup=Cleanup.DELETE, index="rejoinder_config_maps"),
    ChildKind("MPIJob", "kubeflow.org/v2beta1", "mpijobs", ("get", "list", "create", "delete"),
              "training with several workers", cleanup=Cleanup.DELETE, optional_api=True),
    ChildKind("HorizontalPodAutoscaler", "autoscaling/v2", "horizontalpodautoscalers",
              ("get", "list", "create", "patch", "delete"),
              "serving.autoscaling.engine hpa; the built-in autoscaler stands aside when another HPA targets a server"),
    ChildKind("ScaledObject", "keda.sh/v1alpha1", "scaledobjects", ("get", "list", "create", "patch", "delete"),
              "serving.autoscaling.engine keda; the built-in autoscaler stands aside when a ScaledObject targets a server",
              optional_api=True),
    # Not created by the operator (its Jobs and Deployments make them), but watched and read.
    ChildKind("Pod", "v1", "pods", ("get", "list", "watch"),
              "training progress and failures, readiness of model servers, their metrics addresses",
              index="rejoinder_pods", reconcile_on_change=True),
)

_BY_KIND = {k.kind: k for k in CHILD_KINDS}
INDEXED: tuple[ChildKind, ...] = tuple(k for k in CHILD_KINDS if k.index)


def of(kind: str) -> ChildKind:
    """The table's row for a kind (KeyError for a kind the operator does not manage)."""
    return _BY_KIND[kind]


def plural(kind: str) -> str:
    return _BY_KIND[kind].plural


def type_meta(kind: str) -> dict[str, str]:
    """The apiVersion and kind an object of this kind starts with."""
    return {"apiVersion": _BY_KIND[kind].api_version, "kind": kind}
