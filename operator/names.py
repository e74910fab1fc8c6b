"""Deterministic names and labels of a DialogModel's children.

Names include the model (or index) version, so an operator restarted in the middle of a phase
finds the Job it created before instead of creating a second one.
"""

from __future__ import annotations

import hashlib

GROUP = "rejoinder.dev"
MANAGED_BY = "rejoinder-operator"

LABEL_NAME = "app.kubernetes.io/name"
LABEL_INSTANCE = "app.kubernetes.io/instance"
LABEL_COMPONENT = "app.kubernetes.io/component"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
LABEL_MODEL = f"{GROUP}/model"
LABEL_VERSION = f"{GROUP}/version"

ANN_VERSION = f"{GROUP}/version"
ANN_VERSION_METRICS = f"{GROUP}/version-metrics"
ANN_SERVING_METRICS = f"{GROUP}/serving-metrics"
ANN_ROLLOUT_STARTED = f"{GROUP}/rollout-started"
ANN_SPEC_HASH = f"{GROUP}/spec-hash"
# On a DialogModel: a new value retries a failed training (`kubectl annotate ... rejoinder.dev/retry=$(date +%s) --overwrite`).
ANN_RETRY = f"{GROUP}/retry"

COMPONENT_SPEC = "spec"
COMPONENT_TRAIN = "train"
COMPONENT_INDEX = "index"
COMPONENT_SERVER = "server"
COMPONENT_CLEANUP = "cleanup"

SPEC_MOUNT_DIR = "/etc/rejoinder"
SPEC_FILE = f"{SPEC_MOUNT_DIR}/dialogmodel.yaml"
GRPC_PORT = 8500
METRICS_PORT = 9090

_MAX = 63


def _bounded(base: str, suffix: str) -> str:
    """`<base>-<suffix>`, shortening base (with a hash, so it stays unique) to fit 63 characters."""
    name = f"{base}-{suffix}"
    if len(name) <= _MAX:
        return name
    digest = hashlib.sha256(base.encode()).hexdigest()[:6]
    keep = _MAX - len(suffix) - len(digest) - 2
    return f"{base[:keep].rstrip('-')}-{digest}-{suffix}"


def spec_config_map(model: str, version: str, content: str) -> str:
    """Content-addressed: a changed spec is a new (immutable) ConfigMap, never an edit of one in use."""
    return _bounded(model, f"spec-{version.removeprefix('v-')}-{content[:8]}")


def training_job(model: str, version: str, attempt: int = 1) -> str:
    """The first attempt keeps the plain name; retries of a failed training add `-a<N>`."""
    suffix = f"train-{version.removeprefix('v-')}" + (f"-a{attempt}" if attempt > 1 else "")
    return _bounded(model, suffix)


def index_job(model: str, index_version: str) -> str:
    return _bounded(model, f"index-{index_version.removeprefix('i-')}")


def server(model: str) -> str:
    """The Deployment, Service and PodDisruptionBudget (stable across versions: one endpoint)."""
    name = _bounded(model, "server")
    return name if name[0].isalpha() else f"m{name}"[:_MAX]  # Service names must start with a letter


def cleanup_job(model: str) -> str:
    return _bounded(model, "cleanup")


def labels(model: str, component: str, version: str | None = None) -> dict[str, str]:
    out = {
        LABEL_NAME: "rejoinder",
        LABEL_INSTANCE: model,
        LABEL_COMPONENT: component,
        LABEL_MANAGED_BY: MANAGED_BY,
        LABEL_MODEL: model,
    }
    if version:
        out[LABEL_VERSION] = version
    return out


def selector(model: str, component: str) -> dict[str, str]:
    return {LABEL_MODEL: model, LABEL_COMPONENT: component}
