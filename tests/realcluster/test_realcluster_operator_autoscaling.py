"""The three autoscaling engines against the real apiserver and controllers. `operator`: the
operator reads the pods' request counters (served by the test at the chart's metrics URL) and
scales the Deployment itself. `hpa`: its HorizontalPodAutoscaler is accepted and the real HPA
controller sizes the Deployment, and the operator never writes the replicas back. `keda`: its
ScaledObject passes KEDA's own CRD schema (no KEDA runs here to act on it)."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from kubernetes import client

from rejoinder.operator import names
from tests.controlplane.cluster import ControlPlane
from tests.controlplane.kube import raw
from tests.realcluster import dialogmodels as dm
from tests.realcluster.cluster_support import condition, wait_object
from tests.realcluster.conftest import StartOperator
from tests.realcluster.model_metrics import ModelMetrics, requests_total
from tests.realcluster.operator_process import OperatorProcess

pytestmark = pytest.mark.realcluster


def deployment(api: client.ApiClient, namespace: str, model: str) -> dict[str, Any]:
    return raw(client.AppsV1Api(api).read_namespaced_deployment, names.server(model), namespace)


def replicas_managers(deployment: dict[str, Any]) -> set[tuple[str, str]]:
    """(manager, subresource) of the managedFields entries that own spec.replicas."""
    return {(m["manager"], m.get("subresource", "")) for m in deployment["metadata"]["managedFields"]
            if "f:replicas" in ((m.get("fieldsV1") or {}).get("f:spec") or {})}


def test_the_operator_scales_on_the_request_rate_it_scrapes(control_plane: ControlPlane, namespace: str,
                                                            artifacts: str, model_metrics: ModelMetrics,
                                                            operator: OperatorProcess,
                                                            training_results: dict[str, float]) -> None:
    api = control_plane.api()
    scrapes: Counter[str] = Counter()

    def busy(pod: str) -> str:  # each scrape (2 s apart) finds 1000 more requests: far above 50 per replica
        scrapes[pod] += 1
        return requests_total(1000 * scrapes[pod])

    model_metrics.by_namespace[namespace] = busy
    dm.create(api, namespace, dm.small("delta", artifacts, serving={"minReplicas": 1, "maxReplicas": 3,
                                                                     "targetRpsPerReplica": 50}))
    status = dm.wait_status(api, namespace, "delta", lambda s: s.get("readyReplicas") == 3, "three ready replicas")
    assert status["rps"] > 150 and dm.condition(status, "ScalingActive")["reason"] == "ValidMetricFound"
    assert deployment(api, namespace, "delta")["spec"]["replicas"] == 3  # the maximum


def test_the_hpa_sizes_the_deployment_and_the_operator_leaves_it(control_plane: ControlPlane, namespace: str,
                                                                 artifacts: str, operator: OperatorProcess,
                                                                 training_results: dict[str, float]) -> None:
    api = control_plane.api()
    autoscaling = client.AutoscalingV2Api(api)
    dm.create(api, namespace, dm.small("epsilon", artifacts, serving={
        "minReplicas": 1, "maxReplicas": 3, "autoscaling": {"engine": "hpa"}}))
    dm.wait_phase(api, namespace, "epsilon", "Serving")
    hpa = wait_object("the HPA controller's conditions", lambda: raw(
        autoscaling.read_namespaced_horizontal_pod_autoscaler, names.server("epsilon"), namespace),
        lambda h: condition(h, "AbleToScale") is not None)
    assert hpa["spec"]["scaleTargetRef"]["name"] == names.server("epsilon")
    assert condition(hpa, "AbleToScale") == "True"
    # no metrics API serves rejoinder_requests_per_second here: the controller says so, and keeps the bounds
    assert condition(hpa, "ScalingActive") == "False"

    # A higher minimum: the operator updates the HPA, the HPA controller scales the Deployment up
    dm.patch_spec(api, namespace, "epsilon", {"serving": {"minReplicas": 2}})
    scaled = wait_object("the HPA controller's scale-up", lambda: deployment(api, namespace, "epsilon"),
                         lambda d: d["spec"]["replicas"] == 2, timeout=180)
    assert replicas_managers(scaled) == {("kube-controller-manager", "scale")}
    dm.wait_status(api, namespace, "epsilon", lambda s: s.get("readyReplicas") == 2 and s.get("phase") == "Serving",
                   "two ready replicas")
    operator.wait_reconciles(3)
    settled = deployment(api, namespace, "epsilon")
    assert settled["spec"]["replicas"] == 2
    assert replicas_managers(settled) == {("kube-controller-manager", "scale")}  # the operator never wrote them


def test_keda_gets_a_scaled_object_its_crd_accepts(control_plane: ControlPlane, namespace: str, artifacts: str,
                                                   start_operator: StartOperator,
                                                   training_results: dict[str, float]) -> None:
    api = control_plane.api()
    prometheus = "http://prometheus-operated.monitoring.svc:9090"
    start_operator(REJOINDER_PROMETHEUS_URL=prometheus)  # the chart's operator.prometheusUrl
    dm.create(api, namespace, dm.small("zeta", artifacts, serving={
        "minReplicas": 1, "maxReplicas": 4, "autoscaling": {"engine": "keda"}}))
    status = dm.wait_phase(api, namespace, "zeta", "Serving")
    assert dm.condition(status, "ScalingActive")["reason"] == "ScaledObject"
    (scaled,) = dm.custom_children(api, namespace, "zeta", "keda.sh", "v1alpha1", "scaledobjects")
    assert scaled["spec"]["scaleTargetRef"]["name"] == names.server("zeta")
    assert (scaled["spec"]["minReplicaCount"], scaled["spec"]["maxReplicaCount"]) == (1, 4)
    (trigger,) = scaled["spec"]["triggers"]
    assert trigger["type"] == "prometheus" and trigger["metadata"]["serverAddress"] == prometheus
    assert not dm.children(api, namespace, "zeta", "HorizontalPodAutoscaler")  # KEDA would make its own
