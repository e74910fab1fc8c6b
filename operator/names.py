"""Deterministic names and labels of a DialogModel's children.

Names include the model (or index) version, so an operator restarted in the middle of a phase
finds the Job it created before instead of creating a second one.
"""

from __future__ import annotations

import hashlib

from rejoinder.constants import GRPC_PORT, METRICS_PORT  # noqa: F401 - the ports pods listen on

GROUP = "rejoinder.dev"
MANAGED_BY = "rejoinder-operator"

LABEL_NAME = "app.kubernetes.io/name"
LABEL_INSTANCE = "app.kubernetes.io/instance"
LABEL_COMPONENT = "app.kubernetes.io/component"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
LABEL_MODEL = f"{GROUP}/model"
LABEL_VERSION = f"{GROUP}/version"
# On model-server pods: `stable` (the Deployment behind the Service) or `canary` (a new version judged
# beside it, rollout.canary). Older stable pods may lack it: no label means stable.
LABEL_TRACK = f"{GROUP}/track"
TRACK_STABLE = "stable"
TRACK_CANARY = "canary"

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

_MAX = 63  # a DNS-1123 label, and a label value (a Job's name becomes its pods' job-name label)
# mpi-operator names the launcher Job `<mpijob>-launcher`, worker pods (hostnames) `<mpijob>-worker-<i>`
# and their Service `<mpijob>-worker`: the MPIJob's name leaves room for the longest of them.
MPI_WORKER_INDEX_DIGITS = 4  # up to 10,000 workers
_MPIJOB_MAX = _MAX - max(len("-launcher"), len("-worker-") + MPI_WORKER_INDEX_DIGITS)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:6]


def _bounded(base: str, suffix: str, limit: int = _MAX, letter_first: bool = False) -> str:
    """`<base>-<suffix>` within `limit` characters, shortening base with a hash so it stays unique.

    letter_first: a DNS-1035 label (Services, mpi-operator's children); a model name starting with
    a digit then gets an `m` prefix and its hash (the hash keeps it apart from a model named `m…`)."""
    name = f"{base}-{suffix}"
    needs_letter = letter_first and not base[:1].isalpha()
    if len(name) <= limit and not needs_letter:
        return name
    prefix = "m" if needs_letter else ""
    keep = limit - len(prefix) - len(suffix) - 6 - 2
    return f"{prefix}{base[:keep].rstrip('-')}-{_digest(base)}-{suffix}"


def spec_config_map(model: str, version: str, content: str) -> str:
    """Content-addressed: a changed spec is a new (immutable) ConfigMap, never an edit of one in use."""
    return _bounded(model, f"spec-{version.removeprefix('v-')}-{content[:8]}")


def _train_suffix(version: str, attempt: int) -> str:
    """The first attempt keeps the plain name; retries of a failed training add `-a<N>`."""
    return f"train-{version.removeprefix('v-')}" + (f"-a{attempt}" if attempt > 1 else "")


def training_job(model: str, version: str, attempt: int = 1) -> str:
    return _bounded(model, _train_suffix(version, attempt))


def mpi_job(model: str, version: str, attempt: int = 1) -> str:
    return _bounded(model, _train_suffix(version, attempt), limit=_MPIJOB_MAX, letter_first=True)


def training_workload(model: str, version: str, workers: int, attempt: int = 1) -> str:
    """The training Job (one worker) or MPIJob (several) of a version's attempt."""
    return mpi_job(model, version, attempt) if workers > 1 else training_job(model, version, attempt)


def index_job(model: str, index_version: str) -> str:
    return _bounded(model, f"index-{index_version.removeprefix('i-')}")


def server(model: str) -> str:
    """The Deployment, Service and PodDisruptionBudget (stable across versions: one endpoint)."""
    return _bounded(model, "server", letter_first=True)  # Service names are DNS-1035 labels


def canary(model: str) -> str:
    """The Deployment of a new version judged beside the stable one (rollout.canary)."""
    return _bounded(model, "canary", letter_first=True)


def headless(model: str) -> str:
    """The headless Service: one DNS record per ready pod, for client-side gRPC round_robin."""
    return _bounded(model, "headless", letter_first=True)


def cleanup_job(model: str, uid: str) -> str:
    """Unique per object: a model re-created under the same name must not meet the old one's Job."""
    return _bounded(model, f"cleanup-{uid.replace('-', '')[:10]}")


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
