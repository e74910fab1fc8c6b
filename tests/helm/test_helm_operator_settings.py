"""The environment the chart gives the operator is read by the operator as the values meant."""

from __future__ import annotations

import urllib.parse
from pathlib import Path

import pytest

from rejoinder.operator.settings import OperatorSettings
from tests.helm.helm_support import by_kind, render
from tests.helm.helm_values import NON_DEFAULT


def _operator_env(values: dict | None, tmp_path: Path) -> dict[str, str]:
    (deployment,) = by_kind(render(values, tmp_path), "Deployment")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return {e["name"]: e["value"] for e in container["env"] if "value" in e}


def test_non_default_values_reach_the_operator_settings(tmp_path: Path) -> None:
    settings = OperatorSettings.from_env(_operator_env(NON_DEFAULT, tmp_path))
    op = NON_DEFAULT["operator"]
    assert settings.trainer_image == NON_DEFAULT["image"]["trainer"]
    assert settings.model_server_image == "registry.example.com/ml/rejoinder-model-server:1.2.3"
    assert settings.namespaces == tuple(op["watchNamespaces"])
    assert settings.prometheus_url == op["prometheusUrl"]
    assert settings.resync_seconds == op["resyncSeconds"]
    assert settings.autoscale_seconds == op["autoscaleSeconds"]
    assert settings.run_as_user == op["workloadRunAsUser"]
    assert settings.health_port == op["healthPort"]
    assert settings.metrics_port == op["metricsPort"]


def test_defaults_match_the_operator_defaults(tmp_path: Path) -> None:
    """With default values the chart and an operator started with no environment agree."""
    settings = OperatorSettings.from_env(_operator_env(None, tmp_path))
    bare = OperatorSettings()
    for field in ("trainer_image", "model_server_image", "namespaces", "prometheus_url", "resync_seconds",
                  "autoscale_seconds", "run_as_user", "health_port", "metrics_port", "metrics_url_template"):
        assert getattr(settings, field) == getattr(bare, field), field


@pytest.mark.parametrize("url", ["http://{pod_ip}:9191/metrics", "http://{pod_ip}:9090/metrics", "https://{pod_ip}/metrics"])
def test_network_policy_allows_the_port_the_operator_scrapes(url: str, tmp_path: Path) -> None:
    """The model-server metrics URL the operator scrapes and the NetworkPolicy's egress port come
    from the same value, so changing one cannot silently block autoscaling."""
    values = {"networkPolicy": {"enabled": True}, "operator": {"modelServerMetricsUrl": url}}
    objs = render(values, tmp_path)
    settings = OperatorSettings.from_env(_operator_env(values, tmp_path))
    scraped = urllib.parse.urlsplit(settings.metrics_url({"status": {"podIP": "10.1.2.3"}, "metadata": {}}) or "")
    port = scraped.port or (443 if scraped.scheme == "https" else 80)
    (policy,) = by_kind(objs, "NetworkPolicy")
    egress_ports = {p["port"] for rule in policy["spec"]["egress"] for p in rule.get("ports", [])}
    assert port in egress_ports, (url, egress_ports)
