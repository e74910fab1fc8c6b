"""`rejoinder operator`: run the kopf operator that reconciles DialogModels.

Settings come from environment variables (see rejoinder/operator/settings.py and docs/operator.md);
flags override them. kopf's liveness endpoint answers on --health-port at /healthz, the operator's
own Prometheus metrics on --metrics-port at /metrics.
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import replace

from ..constants import OPERATOR_HEALTH_PORT, OPERATOR_METRICS_PORT

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("operator", help="run the Kubernetes operator (kopf) for DialogModels")
    parser.add_argument("--namespace", "-n", action="append", default=None, metavar="NS",
                        help="reconcile DialogModels in this namespace (repeatable); default: "
                             "$REJOINDER_WATCH_NAMESPACES, else all namespaces")
    parser.add_argument("--trainer-image", help="default image of training and index Jobs ($REJOINDER_TRAINER_IMAGE)")
    parser.add_argument("--model-server-image", help="default image of model servers ($REJOINDER_MODEL_SERVER_IMAGE)")
    parser.add_argument("--prometheus-url", help="read request rates from this Prometheus ($REJOINDER_PROMETHEUS_URL)")
    parser.add_argument("--health-port", type=int, help=f"liveness endpoint port ($REJOINDER_HEALTH_PORT, {OPERATOR_HEALTH_PORT})")
    parser.add_argument("--metrics-port", type=int, help=f"operator metrics port ($REJOINDER_METRICS_PORT, {OPERATOR_METRICS_PORT})")
    parser.add_argument("--resync-seconds", type=float, help="reconcile period ($REJOINDER_RESYNC_SECONDS, 10)")
    parser.add_argument("--autoscale-seconds", type=float, help="autoscaling period ($REJOINDER_AUTOSCALE_SECONDS, 15)")
    parser.set_defaults(run=run)


def settings_from(args: argparse.Namespace):  # -> OperatorSettings (imported lazily)
    from ..operator.settings import OperatorSettings

    settings = OperatorSettings.from_env()
    overrides = {
        "namespaces": tuple(args.namespace) if args.namespace else None,
        "trainer_image": args.trainer_image, "model_server_image": args.model_server_image,
        "prometheus_url": args.prometheus_url, "health_port": args.health_port, "metrics_port": args.metrics_port,
        "resync_seconds": args.resync_seconds, "autoscale_seconds": args.autoscale_seconds,
    }
    return replace(settings, **{k: v for k, v in overrides.items() if v is not None})


def run(args: argparse.Namespace) -> int:
    import kopf
    from prometheus_client import start_http_server

    from ..operator.handlers import build_registry

    settings = settings_from(args)
    registry, _ = build_registry(settings)
    start_http_server(settings.metrics_port)
    log.info("operator metrics on :%d/metrics, liveness on :%d/healthz", settings.metrics_port, settings.health_port)
    kopf.run(
        registry=registry,
        standalone=True,
        clusterwide=not settings.namespaces,
        namespaces=settings.namespaces,
        liveness_endpoint=f"http://0.0.0.0:{settings.health_port}/healthz",
    )
    return 0
