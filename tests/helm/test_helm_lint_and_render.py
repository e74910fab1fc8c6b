"""`helm lint --strict` and offline validation of what `helm template` renders."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tests.helm import operator_objects
from tests.helm.helm_support import CHART, MONITORING_KINDS, NAMESPACE, by_kind, helm, render, value_args
from tests.helm.helm_values import MINIMAL, NON_DEFAULT


def _kube_version_floor() -> str:
    constraint = yaml.safe_load((CHART / "Chart.yaml").read_text())["kubeVersion"]  # ">=1.28.0-0"
    return constraint.removeprefix(">=").split("-")[0]


# The oldest Kubernetes the chart claims (Chart.yaml kubeVersion) and the newest schemas
# kubernetes-validate ships.
K8S_VERSIONS = (_kube_version_floor(), kubernetes_validate.latest_version())
CASES = {"default": None, "non-default": NON_DEFAULT, "minimal": MINIMAL}


@pytest.mark.parametrize("case", CASES)
def test_lint_strict_passes(case: str, tmp_path: Path) -> None:
    result = helm("lint", "--strict", str(CHART), *value_args(CASES[case], tmp_path), check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 chart(s) failed" in result.stdout


@pytest.mark.parametrize("case", CASES)
def test_rendered_manifests_validate_against_kubernetes_schemas(case: str, tmp_path: Path) -> None:
    docs = render(CASES[case], tmp_path, include_crds=True)
    assert docs
    checked = set()
    for doc in docs:
        if doc["kind"] in MONITORING_KINDS:
            continue  # Prometheus Operator kinds: test_monitoring_resources_are_well_formed
        for version in K8S_VERSIONS:
            try:
                kubernetes_validate.validate(doc, version, strict=True)
            except kubernetes_validate.ValidationError as error:
                pytest.fail(f"{doc['kind']}/{doc['metadata']['name']} invalid for Kubernetes {version}: {error}")
        checked.add(doc["kind"])
    assert {"CustomResourceDefinition", "Deployment"} <= checked


def test_default_render_has_the_expected_objects(tmp_path: Path) -> None:
    kinds = sorted(d["kind"] for d in render())
    assert kinds == sorted([
        "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Service", "Deployment",
        "ConfigMap", "ConfigMap",  # Grafana dashboard, kube-state-metrics DialogModel config
    ])


def test_every_object_has_recommended_labels_and_namespace(tmp_path: Path) -> None:
    for doc in render(NON_DEFAULT, tmp_path):
        labels = doc["metadata"].get("labels", {})
        where = f"{doc['kind']}/{doc['metadata']['name']}"
        for key in ("app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/version",
                    "app.kubernetes.io/managed-by", "app.kubernetes.io/component", "helm.sh/chart"):
            assert labels.get(key), f"{where} lacks label {key}"
        if doc["kind"] not in {"ClusterRole", "ClusterRoleBinding"}:
            assert doc["metadata"].get("namespace"), f"{where} has no namespace"


def test_operator_deployment_is_a_single_recreated_replica_with_settings(tmp_path: Path) -> None:
    (deployment,) = by_kind(render(NON_DEFAULT, tmp_path), "Deployment")
    spec = deployment["spec"]
    assert spec["replicas"] == 1 and spec["strategy"] == {"type": "Recreate"}
    pod = spec["template"]["spec"]
    assert pod["serviceAccountName"] == "rejoinder-op"
    (container,) = pod["containers"]
    assert container["image"] == "registry.example.com/ml/rejoinder-operator:1.2.3"
    assert container["command"] == ["rejoinder"] and "operator" in container["args"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["REJOINDER_TRAINER_IMAGE"] == "registry.example.com/gpu/rejoinder-trainer:1.2.3-cuda12"
    assert env["REJOINDER_MODEL_SERVER_IMAGE"] == "registry.example.com/ml/rejoinder-model-server:1.2.3"
    assert env["REJOINDER_WATCH_NAMESPACES"] == "dialog,research"
    assert env["REJOINDER_PROMETHEUS_URL"] == "http://prometheus-operated.monitoring:9090"
    assert env["HTTPS_PROXY"] == "http://proxy.example.com:3128"
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"health": 8081, "metrics": 9191}
    assert container["livenessProbe"]["httpGet"]["port"] == "health"
    assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]


def test_default_images_follow_the_app_version() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    (deployment,) = by_kind(render(), "Deployment")
    env = {e["name"]: e.get("value") for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["REJOINDER_TRAINER_IMAGE"] == f"ghcr.io/rejoinder/rejoinder-trainer:{chart['appVersion']}"


def _custom_resource_shape(doc: dict[str, Any]) -> None:
    assert doc["apiVersion"] == "monitoring.coreos.com/v1"
    if doc["kind"] == "ServiceMonitor":
        spec = doc["spec"]
        assert spec["selector"]["matchLabels"]
        assert spec["namespaceSelector"].get("any") is True or spec["namespaceSelector"]["matchNames"]
        for endpoint in spec["endpoints"]:
            assert set(endpoint) <= {"port", "path", "interval", "scrapeTimeout"}
            assert endpoint["port"] == "metrics"
    else:
        for group in doc["spec"]["groups"]:
            for rule in group["rules"]:
                assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}
                assert rule["alert"][0].isupper() and rule["expr"].strip()
                assert rule["labels"]["severity"] in {"critical", "warning", "info"}
                assert rule["annotations"]["summary"] and rule["annotations"]["description"]


def test_monitoring_resources_are_well_formed(tmp_path: Path) -> None:
    docs = render(NON_DEFAULT, tmp_path)
    monitors = by_kind(docs, "ServiceMonitor")
    assert len(monitors) == 2 and len(by_kind(docs, "PrometheusRule")) == 1
    for doc in docs:
        if doc["kind"] in MONITORING_KINDS:
            _custom_resource_shape(doc)
            assert doc["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    model_servers = next(m for m in monitors if m["metadata"]["name"].endswith("model-servers"))
    assert model_servers["spec"]["namespaceSelector"] == {"matchNames": ["dialog", "research"]}


def test_network_policy_limits_api_server_and_scrapers(tmp_path: Path) -> None:
    (policy,) = by_kind(render(NON_DEFAULT, tmp_path), "NetworkPolicy")
    spec = policy["spec"]
    assert spec["policyTypes"] == ["Ingress", "Egress"]
    api = spec["egress"][0]
    assert api["to"] == [{"ipBlock": {"cidr": "10.0.0.1/32"}}] and api["ports"] == [{"port": 443, "protocol": "TCP"}]
    metrics_in = next(rule for rule in spec["ingress"] if rule["ports"][0]["port"] == 9191)
    assert metrics_in["from"] == NON_DEFAULT["networkPolicy"]["metricsFrom"]
    assert not by_kind(render(), "NetworkPolicy"), "the NetworkPolicy is opt-in"
    # Prometheus on another port (operator.prometheusUrl) is reachable
    values = {"networkPolicy": {"enabled": True}, "operator": {"prometheusUrl": "https://prom.example.com:8443/"}}
    (policy,) = by_kind(render(values, tmp_path), "NetworkPolicy")
    assert {"ports": [{"port": 8443, "protocol": "TCP"}]} in policy["spec"]["egress"]


def test_grafana_dashboard_configmap_holds_the_generated_json(tmp_path: Path) -> None:
    (configmap,) = [c for c in by_kind(render(NON_DEFAULT, tmp_path), "ConfigMap")
                    if c["metadata"]["name"].endswith("-dashboard")]
    assert configmap["metadata"]["namespace"] == "monitoring"
    assert configmap["metadata"]["annotations"] == {"grafana_folder": "ML"}
    assert configmap["data"]["rejoinder.json"].strip() == (CHART / "dashboards" / "rejoinder.json").read_text().strip()


def test_release_namespace_is_used(tmp_path: Path) -> None:
    (deployment,) = by_kind(render(), "Deployment")
    assert deployment["metadata"]["namespace"] == NAMESPACE


def test_state_metrics_configmap_holds_the_config(tmp_path: Path) -> None:
    (configmap,) = [c for c in by_kind(render(NON_DEFAULT, tmp_path), "ConfigMap")
                    if c["metadata"]["name"].endswith("-state-metrics")]
    assert configmap["metadata"]["namespace"] == "kube-system"
    config = yaml.safe_load(configmap["data"]["dialogmodel-state-metrics.yaml"])
    assert config["kind"] == "CustomResourceStateMetrics"


def test_kubernetes_older_than_the_crd_needs_is_refused() -> None:
    floor = _kube_version_floor()
    major, minor, _ = floor.split(".")
    older = f"{major}.{int(minor) - 1}.0"
    result = helm("template", "rj", str(CHART), "--kube-version", older, check=False)
    assert result.returncode != 0 and "kubeVersion" in result.stderr, result.stderr
    helm("template", "rj", str(CHART), "--kube-version", floor)


def test_objects_the_operator_creates_are_valid_on_the_kubernetes_versions_the_chart_claims() -> None:
    """The chart's kubeVersion floor must also fit what the operator creates at run time
    (e.g. a preStop `sleep` hook needs Kubernetes 1.30)."""
    objects, _ = operator_objects.build()
    kinds = set()
    for obj in objects:
        if obj["kind"] == "MPIJob":
            continue  # the MPI Operator's CRD, not in the offline schemas
        for version in K8S_VERSIONS:
            try:
                kubernetes_validate.validate(obj, version, strict=True)
            except kubernetes_validate.ValidationError as error:
                pytest.fail(f"operator-built {obj['kind']}/{obj['metadata']['name']} invalid for Kubernetes {version}: {error}")
        kinds.add(obj["kind"])
    assert kinds == {"ConfigMap", "Job", "Deployment", "Service", "PodDisruptionBudget"}
