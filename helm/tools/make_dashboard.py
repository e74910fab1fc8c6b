#!/usr/bin/env python3
"""Generate the chart's Grafana dashboard (helm/rejoinder/dashboards/rejoinder.json).

Written as code because every model-server panel needs the same join: server series carry the
scrape target's `namespace` and `pod`, and `rejoinder_model_info` (one per pod) names the
DialogModel the pod serves. A test checks the committed JSON equals this script's output and
that every metric it queries is one the model server or the operator exports.

    python helm/tools/make_dashboard.py            # rewrites the JSON
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parents[1] / "rejoinder" / "dashboards" / "rejoinder.json"

SEL = 'namespace=~"$namespace"'
# Attaches the DialogModel `name` to any per-pod series of the model server.
BY_MODEL = (
    f' * on (namespace, pod) group_left (name) '
    f'max by (namespace, pod, name) (rejoinder_model_info{{{SEL}, name=~"$model"}})'
)


READY = f"rejoinder_ready{{{SEL}}}"


def state(metric: str) -> str:
    """A DialogModel status field exported by kube-state-metrics (files/dialogmodel-state-metrics.yaml)."""
    return f'rejoinder_dialogmodel_{metric}{{{SEL}, name=~"$model"}}'


def per_model(expr: str) -> str:
    return f"({expr}){BY_MODEL}"


def target(expr: str, legend: str, ref: str) -> dict[str, Any]:
    return {"datasource": {"type": "prometheus", "uid": "${datasource}"}, "expr": expr,
            "legendFormat": legend, "refId": ref}


def panel(pid: int, title: str, description: str, targets: list[dict[str, Any]], unit: str,
          x: int, y: int, w: int = 12, h: int = 8) -> dict[str, Any]:
    return {
        "id": pid, "type": "timeseries", "title": title, "description": description,
        "datasource": {"type": "prometheus", "uid": "${datasource}"},
        "gridPos": {"x": x, "y": y, "w": w, "h": h},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "options": {"legend": {"displayMode": "table", "placement": "bottom", "calcs": ["lastNotNull", "max"]},
                    "tooltip": {"mode": "multi"}},
        "targets": targets,
    }


def rate(metric: str, labels: str = "") -> str:
    extra = f", {labels}" if labels else ""
    return f"rate({metric}{{{SEL}{extra}}}[$__rate_interval])"


def quantile(q: float, metric: str) -> str:
    return f"histogram_quantile({q}, sum by (name, le) ({per_model(rate(metric))}))"


def panels() -> list[dict[str, Any]]:
    rps = f"sum by (name) ({per_model(rate('rejoinder_requests_total'))})"
    not_ok = rate("rejoinder_requests_total", 'code!="OK"')
    errors = (
        f"sum by (name) ({per_model(not_ok)})"
        f" / sum by (name) ({per_model(rate('rejoinder_requests_total'))})"
    )
    latency = [target(quantile(q, "rejoinder_request_duration_seconds_bucket"), f"{{{{name}}}} p{int(q * 100)}", r)
               for q, r in ((0.5, "A"), (0.95, "B"), (0.99, "C"))]
    mean_batch = (
        f"sum by (name) ({per_model(rate('rejoinder_batch_size_sum'))})"
        f" / sum by (name) ({per_model(rate('rejoinder_batch_size_count'))})"
    )
    return [
        panel(1, "Requests per second", "Answered RPCs per second over all replicas, per DialogModel "
              "(what the operator's autoscaler divides by targetRpsPerReplica).",
              [target(rps, "{{name}}", "A")], "reqps", 0, 0),
        panel(2, "Error ratio", "Share of RPCs answered with a gRPC code other than OK "
              "(RESOURCE_EXHAUSTED: the batchifier queue was full).",
              [target(errors, "{{name}}", "A")], "percentunit", 12, 0),
        panel(3, "Latency percentiles", "Time to answer an RPC, p50/p95/p99.", latency, "s", 0, 8),
        panel(4, "Batch size", "Rows per model call: mean and p90. Small batches under load mean "
              "maxQueueDelayMs is too short or the load too low to fill them.",
              [target(mean_batch, "{{name}} mean", "A"),
               target(quantile(0.9, "rejoinder_batch_size_bucket"), "{{name}} p90", "B")], "short", 12, 8),
        panel(5, "Queue wait p99", "Time requests wait in the batchifier queue before their batch starts.",
              [target(quantile(0.99, "rejoinder_queue_wait_seconds_bucket"), "{{name}} wait p99", "A")], "s", 0, 16),
        panel(6, "Replicas", "Replicas the operator wants (status.replicas), model-server pods scraped, "
              "and those ready (loaded, warmed up, SERVING).",
              [target(f"max by (name) ({state('replicas')})", "{{name}} desired", "A"),
               target(f'count by (name) (rejoinder_model_info{{{SEL}, name=~"$model"}})', "{{name}} scraped", "B"),
               target(f"sum by (name) ({per_model(READY)})", "{{name}} ready", "C")],
              "short", 12, 16),
        panel(7, "Training progress", "Step reached over total steps of the running training, from the "
              "DialogModel status (kube-state-metrics with the chart's dialogModelStateMetrics config).",
              [target(f"max by (name) ({state('training_step')}) / max by (name) ({state('training_total_steps')})",
                      "{{name}}", "A")], "percentunit", 0, 24),
        panel(8, "Training throughput and loss", "Examples per second over all Horovod processes (left) "
              "and the last reported loss (right).",
              [target(f"max by (name) ({state('training_examples_per_second')})", "{{name}} examples/s", "A"),
               target(f"max by (name) ({state('training_loss')})", "{{name}} loss", "B")], "short", 12, 24),
        panel(9, "DialogModels by phase", "Models the operator reconciles, per phase (operator metrics).",
              [target("sum by (phase) (rejoinder_operator_dialogmodels)", "{{phase}}", "A")], "short", 0, 32),
        panel(10, "Operator reconciliations", "Reconciliations per second by result, and their p95 duration.",
              [target("sum by (result) (rate(rejoinder_operator_reconciles_total[$__rate_interval]))", "{{result}}", "A"),
               target("histogram_quantile(0.95, sum by (le) (rate(rejoinder_operator_reconcile_seconds_bucket"
                      "[$__rate_interval])))", "p95 seconds", "B")], "short", 12, 32),
    ]


def dashboard() -> dict[str, Any]:
    def variable(name: str, label: str, query: str, include_all: bool = True) -> dict[str, Any]:
        return {"name": name, "label": label, "type": "query", "datasource": {"type": "prometheus", "uid": "${datasource}"},
                "query": {"query": query, "refId": name}, "definition": query, "refresh": 2,
                "includeAll": include_all, "multi": include_all, "allValue": ".*",
                "current": {"text": "All", "value": "$__all"} if include_all else {}}

    return {
        "uid": "rejoinder-overview",
        "title": "rejoinder",
        "description": "DialogModel serving and training: RPS, latency percentiles, batch size, replicas, training progress.",
        "tags": ["rejoinder", "ml"],
        "schemaVersion": 39,
        "version": 1,
        "editable": True,
        "refresh": "30s",
        "time": {"from": "now-3h", "to": "now"},
        "templating": {"list": [
            {"name": "datasource", "label": "Data source", "type": "datasource", "query": "prometheus",
             "current": {}, "hide": 0},
            variable("namespace", "Namespace", "label_values(rejoinder_model_info, namespace)"),
            variable("model", "DialogModel", 'label_values(rejoinder_model_info{namespace=~"$namespace"}, name)'),
        ]},
        "panels": panels(),
    }


def render() -> str:
    return json.dumps(dashboard(), indent=2, sort_keys=True) + "\n"


def main() -> int:
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(render())
    print(OUT)
    return 0


if __name__ == "__main__":
    sys.exit(main())
