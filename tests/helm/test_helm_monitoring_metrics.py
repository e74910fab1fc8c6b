"""The dashboard and the alert rules query only metrics the code really exports.

A renamed metric in the model server or the operator would otherwise leave an empty panel or
an alert that never fires, which nobody notices until it matters.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from tests.helm.helm_support import CHART, REPO, by_kind, render
from tests.helm.helm_values import NON_DEFAULT

METRIC = re.compile(r"\brejoinder_[a-z0-9_]+\b")
# Series prometheus_client derives from one metric family.
SUFFIXES = ("_bucket", "_sum", "_count", "_total", "_created", "_info")
SOURCES = [*sorted((REPO / "modelserver").glob("*.py")), *sorted((REPO / "operator").glob("*.py"))]


STATE_METRICS = CHART / "files" / "dialogmodel-state-metrics.yaml"


def _state_metric_names() -> set[str]:
    """Metrics kube-state-metrics exports with the chart's CustomResourceStateMetrics config."""
    (resource,) = yaml.safe_load(STATE_METRICS.read_text())["spec"]["resources"]
    return {f"{resource['metricNamePrefix']}_{m['name']}" for m in resource["metrics"]}


def _exported_families() -> set[str]:
    """Names passed to prometheus_client constructors (the first string argument) in the model
    server and the operator, and the DialogModel status metrics of the kube-state-metrics config."""
    families = set()
    pattern = re.compile(r"\b(?:Counter|Gauge|Histogram|Summary|Info|Enum)\(\s*[\"'](rejoinder_[a-z0-9_]+)[\"']")
    for path in SOURCES:
        families.update(pattern.findall(path.read_text()))
    return families | _state_metric_names()


def _family(series: str, families: set[str]) -> str | None:
    if series in families:
        return series
    for suffix in SUFFIXES:
        if series.endswith(suffix) and series[: -len(suffix)] in families:
            return series[: -len(suffix)]
    return None


def _queried() -> dict[str, set[str]]:
    dashboard = json.loads((CHART / "dashboards" / "rejoinder.json").read_text())
    exprs = {f"dashboard panel {p['title']!r}": t["expr"] for p in dashboard["panels"] for t in p["targets"]}
    for variable in dashboard["templating"]["list"]:
        if variable.get("type") == "query":
            exprs[f"dashboard variable {variable['name']}"] = variable["query"]["query"]
    return {where: set(METRIC.findall(expr)) for where, expr in exprs.items()}


def test_dashboard_queries_exported_metrics() -> None:
    families = _exported_families()
    assert "rejoinder_requests" in families, "the model server's request counter is not found"
    for where, names in _queried().items():
        for name in names:
            assert _family(name, families), f"{where} queries {name}, which no code exports"


def test_alert_rules_query_exported_metrics(tmp_path: Path) -> None:
    families = _exported_families()
    (rule,) = by_kind(render(NON_DEFAULT, tmp_path), "PrometheusRule")
    for group in rule["spec"]["groups"]:
        for alert in group["rules"]:
            for name in METRIC.findall(alert["expr"]):
                assert _family(name, families), f"alert {alert['alert']} queries {name}, which no code exports"


def test_operator_prometheus_query_uses_labels_the_service_monitor_provides(tmp_path: Path) -> None:
    """The operator's default PromQL filters on labels the model servers' ServiceMonitor puts on
    every series: its default target labels and its podTargetLabels (sanitised as Prometheus does)."""
    from rejoinder.operator.settings import PROMETHEUS_QUERY

    monitor = next(m for m in by_kind(render(NON_DEFAULT, tmp_path), "ServiceMonitor") if m["metadata"]["name"].endswith("model-servers"))
    provided = {"namespace", "pod", "service", "job", "instance", "container", "endpoint"}
    provided |= {re.sub(r"[^A-Za-z0-9_]", "_", label) for label in monitor["spec"].get("podTargetLabels", [])}
    assert "rejoinder_requests_total" in PROMETHEUS_QUERY
    for label in re.findall(r"(\w+)=~?\"", PROMETHEUS_QUERY.replace("{{", "{").replace("}}", "}")):
        assert label in provided, label


def _schema_at(schema: dict, path: list[str]) -> dict | None:
    for part in path:
        schema = (schema.get("properties") or {}).get(part)
        if schema is None:
            return None
    return schema


def test_state_metrics_config_reads_fields_the_crd_has() -> None:
    crd = yaml.safe_load((REPO / "crds" / "dialogmodel.yaml").read_text())
    (version,) = [v for v in crd["spec"]["versions"] if v["storage"]]
    schema = version["schema"]["openAPIV3Schema"]
    config = yaml.safe_load(STATE_METRICS.read_text())
    (resource,) = config["spec"]["resources"]
    gvk = resource["groupVersionKind"]
    assert (gvk["group"], gvk["version"], gvk["kind"]) == (crd["spec"]["group"], version["name"], crd["spec"]["names"]["kind"])
    for metric in resource["metrics"]:
        each = metric["each"]
        if each["type"] == "Gauge":
            field = _schema_at(schema, each["gauge"]["path"])
            assert field and field["type"] in {"integer", "number"}, f"{metric['name']}: {each['gauge']['path']}"
        else:
            assert each["type"] == "StateSet"
            field = _schema_at(schema, each["stateSet"]["path"])
            assert field and field["enum"] == each["stateSet"]["list"], f"{metric['name']}: states differ from the CRD"


def test_prometheus_adapter_rule_serves_the_metric_the_operators_hpas_target(tmp_path: Path) -> None:
    from rejoinder.operator.scaling_objects import RPS_METRIC
    from rejoinder.operator.scraping import REQUESTS_METRIC

    [config_map] = [c for c in by_kind(render(NON_DEFAULT, tmp_path), "ConfigMap")
                    if c["metadata"]["name"].endswith("prometheus-adapter-rules")]
    assert config_map["metadata"]["namespace"] == NON_DEFAULT["prometheusAdapterRules"]["namespace"]
    [rule] = yaml.safe_load(config_map["data"]["config.yaml"])["rules"]
    assert rule["seriesQuery"].startswith(REQUESTS_METRIC + "{")
    assert re.fullmatch(rule["name"]["matches"], REQUESTS_METRIC) and rule["name"]["as"] == RPS_METRIC
    assert rule["resources"]["overrides"]["pod"] == {"resource": "pod"}  # a Pods metric, per pod
    assert "rate(<<.Series>>{<<.LabelMatchers>>}" in rule["metricsQuery"]
    assert not [c for c in by_kind(render(None, tmp_path), "ConfigMap") if c["metadata"]["name"].endswith("adapter-rules")]
