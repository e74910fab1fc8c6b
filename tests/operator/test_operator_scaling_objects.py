"""serving.autoscaling.engine hpa / keda: the HPA and ScaledObject the planner asks for, validated
against the real schemas (kubernetes-validate for the HPA, KEDA's CRD models for the ScaledObject),
and the Deployment's replicas left to them."""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

import kubernetes_validate
import pytest
from cloudcoil.models.keda.v1alpha1 import ScaledObject
from test_operator_planner import SETTINGS, NOW, by_kind, cond, model, serving_model, spec

from rejoinder.operator import names
from rejoinder.operator.planner import Observed, plan
from rejoinder.operator.scaling_objects import horizontal_pod_autoscaler, quantity, scaled_object

PROM = dataclasses.replace(SETTINGS, prometheus_url="http://prometheus.monitoring:9090")
SERVING = {"minReplicas": 2, "maxReplicas": 7, "targetRpsPerReplica": 12.5, "scaleDownStabilizationSeconds": 120}


def keda_strict(obj: dict[str, Any]) -> None:
    """Validate against KEDA's CRD models, refusing fields they do not know (a real apiserver with
    strict field validation refuses them too; the models alone would silently drop them)."""
    parsed = ScaledObject.model_validate(obj)
    assert parsed.model_dump(by_alias=True, exclude_unset=True, mode="json") == obj


def observed(obs: dict[str, Any], **more: Any) -> Observed:
    return Observed(jobs=obs["jobs"], config_maps=obs["config_maps"], deployment=obs["deployment"], **more)


def test_quantities_are_canonical() -> None:
    assert [quantity(v) for v in (50.0, 12.5, 0.25, 1000)] == ["50", "12500m", "250m", "1000"]


def test_the_hpa_is_valid_and_carries_the_spec() -> None:
    hpa = horizontal_pod_autoscaler(model(spec(serving={**SERVING, "autoscaling": {"engine": "hpa"}})))
    kubernetes_validate.validate(hpa, "1.33.0", strict=True)
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": names.server("m")}
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 7)
    [metric] = hpa["spec"]["metrics"]
    assert metric["pods"] == {"metric": {"name": "rejoinder_requests_per_second"},
                              "target": {"type": "AverageValue", "averageValue": "12500m"}}
    assert hpa["spec"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == 120


def test_a_misspelled_hpa_field_is_refused_by_the_validator() -> None:
    """The check above can fail: kubernetes-validate refuses what the apiserver would."""
    hpa = horizontal_pod_autoscaler(model(spec(serving={"autoscaling": {"engine": "hpa"}})))
    hpa["spec"]["maxReplica"] = hpa["spec"].pop("maxReplicas")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(hpa, "1.33.0", strict=True)


def test_the_scaled_object_is_valid_keda_and_carries_the_spec() -> None:
    so = scaled_object(model(spec(serving={**SERVING, "autoscaling": {"engine": "keda"}})), PROM)
    keda_strict(so)
    assert (so["spec"]["minReplicaCount"], so["spec"]["maxReplicaCount"]) == (2, 7)
    [trigger] = so["spec"]["triggers"]
    assert trigger["type"] == "prometheus" and trigger["metricType"] == "AverageValue"
    assert trigger["metadata"]["threshold"] == "12.5"
    assert trigger["metadata"]["serverAddress"] == "http://prometheus.monitoring:9090"
    assert 'rejoinder_dev_model="m"' in trigger["metadata"]["query"] and "rejoinder_requests_total" in trigger["metadata"]["query"]
    assert so["spec"]["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]["scaleDown"] == {"stabilizationWindowSeconds": 120}


def test_the_keda_check_refuses_what_keda_does_not_know() -> None:
    so = scaled_object(model(spec(serving={"autoscaling": {"engine": "keda"}})), PROM)
    bad = copy.deepcopy(so)
    bad["spec"]["maxReplicas"] = 3  # KEDA's field is maxReplicaCount
    with pytest.raises(AssertionError):
        keda_strict(bad)
    bad = copy.deepcopy(so)
    bad["spec"]["triggers"][0]["metadata"]["threshold"] = 12.5  # KEDA's trigger metadata values are strings
    with pytest.raises(Exception):
        keda_strict(bad)


@pytest.mark.parametrize("engine, kind", [("hpa", "HorizontalPodAutoscaler"), ("keda", "ScaledObject")])
def test_an_external_engine_gets_its_object_and_the_operator_leaves_replicas_alone(engine: str, kind: str) -> None:
    m1, st, obs = serving_model({"recall@5": 0.6})
    m2 = model(spec(serving={**SERVING, "autoscaling": {"engine": engine}}))
    dep = copy.deepcopy(obs["deployment"])
    dep["spec"]["replicas"] = 9  # outside [2, 7]: the HPA or KEDA corrects it, not the operator
    p = plan(m2, st, observed({**obs, "deployment": dep}, keda_supported=True), PROM, NOW)
    [obj] = by_kind(p.create, kind)
    assert obj["spec"]["scaleTargetRef"]["name"] == dep["metadata"]["name"]
    assert all("replicas" not in d["spec"] for d in by_kind(p.patch, "Deployment"))
    assert cond(p, "ScalingActive")["status"] == "True" and cond(p, "ScalingActive")["reason"] == kind
    # created and unchanged: nothing more to do
    p2 = plan(m2, st, observed({**obs, "deployment": dep}, keda_supported=True,
                               **({"hpa": obj} if kind == "HorizontalPodAutoscaler" else {"scaled_object": obj})), PROM, NOW)
    assert not by_kind(p2.create + p2.patch, kind)


def test_switching_back_to_the_operator_engine_removes_the_hpa_only_if_it_is_ours() -> None:
    m1, st, obs = serving_model({"recall@5": 0.6})
    ours = horizontal_pod_autoscaler(model(spec(serving={"autoscaling": {"engine": "hpa"}})))
    p = plan(m1, st, observed(obs, hpa=ours), SETTINGS, NOW)
    assert [(r.plural, r.name) for r in p.delete if r.plural == "horizontalpodautoscalers"] == [
        ("horizontalpodautoscalers", names.server("m"))]
    theirs = copy.deepcopy(ours)
    theirs["metadata"]["labels"] = {"team": "platform"}
    p = plan(m1, st, observed(obs, hpa=theirs), SETTINGS, NOW)
    assert not [r for r in p.delete if r.plural == "horizontalpodautoscalers"]


def test_keda_without_keda_or_without_prometheus_says_so() -> None:
    m1, st, obs = serving_model({"recall@5": 0.6})
    m2 = model(spec(serving={"autoscaling": {"engine": "keda"}}))
    p = plan(m2, st, observed(obs, keda_supported=False), PROM, NOW)
    assert not by_kind(p.create, "ScaledObject")
    assert cond(p, "ScalingActive")["reason"] == "KEDAMissing" and cond(p, "Degraded")["reason"] == "KEDAMissing"
    p = plan(m2, st, observed(obs, keda_supported=True), SETTINGS, NOW)
    assert cond(p, "ScalingActive")["reason"] == "PrometheusUrlMissing"
