"""Operator settings: environment variables (what the Helm chart sets), overridable by flags.

| variable | default | meaning |
|---|---|---|
| REJOINDER_TRAINER_IMAGE | ghcr.io/rejoinder/rejoinder-trainer:<version> | image of training and index Jobs |
| REJOINDER_MODEL_SERVER_IMAGE | ghcr.io/rejoinder/rejoinder-model-server:<version> | image of model servers |
| REJOINDER_WATCH_NAMESPACES | (empty: all) | comma-separated namespaces to reconcile |
| REJOINDER_PROMETHEUS_URL | (empty) | set: RPS comes from a Prometheus query, not from scraping pods |
| REJOINDER_PROMETHEUS_QUERY | see PROMETHEUS_QUERY | PromQL; {namespace}, {model} and {deployment} are filled in |
| REJOINDER_METRICS_URL_TEMPLATE | http://{pod_ip}:9090/metrics | a model-server pod's metrics URL |
| REJOINDER_RESYNC_SECONDS | 10 | how often each DialogModel is reconciled (besides on changes) |
| REJOINDER_AUTOSCALE_SECONDS | 15 | how often request rates are read and replicas decided |
| REJOINDER_LOG_TAIL_LINES | 100 | training pod log lines read for progress, metrics and failures |
| REJOINDER_HEALTH_PORT | 8080 | kopf liveness endpoint (/healthz) |
| REJOINDER_METRICS_PORT | 9090 | the operator's own Prometheus metrics |
| REJOINDER_RUN_AS_USER | 10001 | uid/gid of every pod the operator creates (the images' user) |
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any, Callable, Mapping, Optional

from rejoinder import __version__
from rejoinder.constants import METRICS_PORT, OPERATOR_HEALTH_PORT, OPERATOR_METRICS_PORT

# A model's server pods by their labels (the chart's ServiceMonitor copies them onto the series as
# podTargetLabels), never by a pod-name prefix, which would also catch a model named "<model>-server-…".
PROMETHEUS_QUERY = ('sum(rate(rejoinder_requests_total{{namespace="{namespace}",rejoinder_dev_model="{model}",'
                    'app_kubernetes_io_component="server"}}[1m]))')

# A pod (the API object) → the URL of its Prometheus metrics, or None to skip it.
MetricsUrlResolver = Callable[[Mapping[str, Any]], Optional[str]]


@dataclass(frozen=True)
class OperatorSettings:
    trainer_image: str = f"ghcr.io/rejoinder/rejoinder-trainer:{__version__}"
    model_server_image: str = f"ghcr.io/rejoinder/rejoinder-model-server:{__version__}"
    namespaces: tuple[str, ...] = ()
    prometheus_url: Optional[str] = None
    prometheus_query: str = PROMETHEUS_QUERY
    metrics_url_template: str = "http://{pod_ip}:%d/metrics" % METRICS_PORT
    resync_seconds: float = 10.0
    autoscale_seconds: float = 15.0
    log_tail_lines: int = 100
    health_port: int = OPERATOR_HEALTH_PORT
    metrics_port: int = OPERATOR_METRICS_PORT
    run_as_user: int = 10001
    scrape_timeout_seconds: float = 2.0
    # Tests (and unusual networks) replace how a pod's metrics URL is found.
    metrics_url_resolver: Optional[MetricsUrlResolver] = field(default=None, compare=False)
    # The reconciler's wall clock (deadlines, canary durations): tests move it instead of sleeping.
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(timezone.utc), compare=False)

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> "OperatorSettings":
        d = cls()

        def get(name: str) -> Optional[str]:
            value = env.get(name, "").strip()
            return value or None

        namespaces = tuple(n.strip() for n in (get("REJOINDER_WATCH_NAMESPACES") or "").split(",") if n.strip())
        try:
            return replace(
                d,
                trainer_image=get("REJOINDER_TRAINER_IMAGE") or d.trainer_image,
                model_server_image=get("REJOINDER_MODEL_SERVER_IMAGE") or d.model_server_image,
                namespaces=namespaces,
                prometheus_url=get("REJOINDER_PROMETHEUS_URL"),
                prometheus_query=get("REJOINDER_PROMETHEUS_QUERY") or d.prometheus_query,
                metrics_url_template=get("REJOINDER_METRICS_URL_TEMPLATE") or d.metrics_url_template,
                resync_seconds=float(get("REJOINDER_RESYNC_SECONDS") or d.resync_seconds),
                autoscale_seconds=float(get("REJOINDER_AUTOSCALE_SECONDS") or d.autoscale_seconds),
                log_tail_lines=int(get("REJOINDER_LOG_TAIL_LINES") or d.log_tail_lines),
                health_port=int(get("REJOINDER_HEALTH_PORT") or d.health_port),
                metrics_port=int(get("REJOINDER_METRICS_PORT") or d.metrics_port),
                run_as_user=int(get("REJOINDER_RUN_AS_USER") or d.run_as_user),
            )
        except ValueError as error:
            raise ValueError(f"invalid operator setting in the environment: {error}") from None

    def metrics_url(self, pod: Mapping[str, Any]) -> Optional[str]:
        if self.metrics_url_resolver is not None:
            return self.metrics_url_resolver(pod)
        pod_ip = (pod.get("status") or {}).get("podIP")
        if not pod_ip:
            return None
        meta = pod.get("metadata") or {}
        return self.metrics_url_template.format(pod_ip=pod_ip, pod_name=meta.get("name", ""),
                                                namespace=meta.get("namespace", ""))

