"""The objects that let a standard autoscaler size a model's servers (`serving.autoscaling.engine`).

hpa: an autoscaling/v2 HorizontalPodAutoscaler on the Pods metric `rejoinder_requests_per_second`
(served by prometheus-adapter with the chart's rule). keda: a KEDA ScaledObject with a Prometheus
trigger on the servers' request counter. Both carry the spec's bounds, target and scale-down
stabilisation; the operator then never writes the Deployment's replicas. Pure functions.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional

from rejoinder.api.spec import AutoscalingEngine

from . import child_kinds, names
from .children import ParsedDialogModel
from .settings import OperatorSettings

# The custom metric prometheus-adapter serves from rejoinder_requests_total (the chart's rule).
RPS_METRIC = "rejoinder_requests_per_second"
# The HPA's own default scale-up policy, stated so the built-in autoscaler and these agree.
SCALE_UP_POLICIES = [{"type": "Percent", "value": 100, "periodSeconds": 15},
                     {"type": "Pods", "value": 4, "periodSeconds": 15}]


def quantity(value: float) -> str:
    """A request rate as a canonical Kubernetes quantity ("50", "12500m")."""
    milli = round(value * 1000)
    return str(milli // 1000) if milli % 1000 == 0 else f"{milli}m"


def _bounds(model: ParsedDialogModel) -> tuple[int, int]:
    s = model.spec.serving
    return max(1, s.min_replicas), max(1, s.max_replicas)


def _target_ref() -> dict[str, str]:
    return child_kinds.type_meta("Deployment")


def _behavior(model: ParsedDialogModel) -> dict[str, Any]:
    return {
        "scaleUp": {"stabilizationWindowSeconds": 0, "selectPolicy": "Max", "policies": SCALE_UP_POLICIES},
        "scaleDown": {"stabilizationWindowSeconds": model.spec.serving.scale_down_stabilization_seconds},
    }


def horizontal_pod_autoscaler(model: ParsedDialogModel) -> dict[str, Any]:
    low, high = _bounds(model)
    server = names.server(model.name)
    return {
        **child_kinds.type_meta("HorizontalPodAutoscaler"),
        "metadata": model.metadata(server, names.COMPONENT_SERVER),
        "spec": {
            "scaleTargetRef": {**_target_ref(), "name": server},
            "minReplicas": low, "maxReplicas": high,
            "metrics": [{"type": "Pods", "pods": {
                "metric": {"name": RPS_METRIC},
                "target": {"type": "AverageValue", "averageValue": quantity(model.spec.serving.target_rps_per_replica)},
            }}],
            "behavior": _behavior(model),
        },
    }


def keda_query(model: ParsedDialogModel, settings: OperatorSettings) -> str:
    return settings.prometheus_query.format(namespace=model.namespace, model=model.name,
                                            deployment=names.server(model.name))


def scaled_object(model: ParsedDialogModel, settings: OperatorSettings) -> dict[str, Any]:
    """Needs `settings.prometheus_url` (the planner refuses keda without it)."""
    low, high = _bounds(model)
    server = names.server(model.name)
    return {
        **child_kinds.type_meta("ScaledObject"),
        "metadata": model.metadata(server, names.COMPONENT_SERVER),
        "spec": {
            "scaleTargetRef": {**_target_ref(), "name": server},
            "minReplicaCount": low, "maxReplicaCount": high,
            "pollingInterval": max(1, round(settings.autoscale_seconds)),
            "advanced": {"horizontalPodAutoscalerConfig": {"behavior": _behavior(model)}},
            "triggers": [{
                "type": "prometheus", "metricType": "AverageValue",
                "metadata": {
                    "serverAddress": settings.prometheus_url or "",
                    "query": keda_query(model, settings),
                    # AverageValue: KEDA divides the query's total by this to get replicas
                    "threshold": f"{model.spec.serving.target_rps_per_replica:g}",
                },
            }],
        },
    }


def desired(model: ParsedDialogModel, settings: OperatorSettings) -> Optional[dict[str, Any]]:
    """The object the spec's engine needs, or None for the operator's own autoscaler."""
    engine = model.spec.serving.autoscaling.engine
    if engine == AutoscalingEngine.hpa:
        return horizontal_pod_autoscaler(model)
    if engine == AutoscalingEngine.keda:
        return scaled_object(model, settings)
    return None


def targets(obj: Mapping[str, Any], deployment: str) -> bool:
    """Whether an HPA or ScaledObject scales the Deployment named `deployment`."""
    ref = (obj.get("spec") or {}).get("scaleTargetRef") or {}
    return ref.get("name") == deployment and ref.get("kind", "Deployment") == "Deployment"


def is_ours(obj: Mapping[str, Any], model: str) -> bool:
    labels = (obj.get("metadata") or {}).get("labels") or {}
    if labels.get(names.LABEL_MANAGED_BY) == names.MANAGED_BY and labels.get(names.LABEL_MODEL) == model:
        return True
    # KEDA runs every ScaledObject through an HPA of its own, named after it
    return labels.get("scaledobject.keda.sh/name") == names.server(model)
