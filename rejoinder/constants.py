"""Values that several components must agree on, each written once.

Ports are the defaults of the model server, of `rejoinder up` and of the operator's pods and
Services; a pod always listens on these, local mode may be told others.
"""

from __future__ import annotations

GRPC_PORT = 8500  # the model server's DialogService, health and reflection
METRICS_PORT = 9090  # the model server's Prometheus /metrics
OPERATOR_HEALTH_PORT = 8080  # the operator's liveness endpoint (/healthz)
OPERATOR_METRICS_PORT = 9090  # the operator's own Prometheus metrics (another pod than a server's)
LOCAL_HOST = "127.0.0.1"  # where `rejoinder up`, `serve`, `query` and `bench` listen and connect by default
LOCAL_TARGET = f"{LOCAL_HOST}:{GRPC_PORT}"

DEFAULT_NAMESPACE = "default"  # a DialogModel without metadata.namespace (local mode, render, train)

RFC3339 = "%Y-%m-%dT%H:%M:%SZ"  # Kubernetes' timestamps (metav1.Time), UTC to the second
CANARY_FILE = "canary.json"  # local mode's last canary judgement, in the served model's directory
