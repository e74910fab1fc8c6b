"""DialogModels on the real cluster: the examples put into a test's namespace, reading them and
their children, and waiting for a phase (with the operator's log when it does not come)."""

from __future__ import annotations

import copy
import subprocess
from pathlib import Path
from typing import Any, Callable, Optional

import yaml
from kubernetes import client
from kubernetes.client.rest import ApiException

from rejoinder.operator import names
from tests.controlplane.cluster import ControlPlane, wait_for
from tests.controlplane.kube import raw
from tests.realcluster.cluster_support import REPO, helm_bin_dir

GROUP, VERSION, PLURAL = "rejoinder.dev", "v1alpha1", "dialogmodels"
EXAMPLES = REPO / "examples"
PHASE_TIMEOUT = 300.0  # a whole pipeline (train, index, roll out) on 2 cores shared with other jobs


def example(file: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all((EXAMPLES / file).read_text()) if doc]


def into(namespace: str, doc: dict[str, Any]) -> dict[str, Any]:
    moved = copy.deepcopy(doc)
    moved["metadata"]["namespace"] = namespace
    return moved


def small(name: str, claim: str, **spec: Any) -> dict[str, Any]:
    """A retrieval DialogModel with little to train (no GPUs), storing on `claim`; `spec` keys
    replace (or, for maps, update) the spec's."""
    body: dict[str, Any] = {
        "task": "retrieval", "data": {"preset": "chatterbot"},
        "storage": {"persistentVolumeClaim": claim, "path": "/var/lib/rejoinder"},
        "training": {"steps": 100, "gpusPerWorker": 0, "controller": "gloo"},
        "serving": {"minReplicas": 1, "maxReplicas": 2},
    }
    for key, value in spec.items():
        body[key] = {**body[key], **value} if isinstance(value, dict) and isinstance(body.get(key), dict) else value
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "DialogModel", "metadata": {"name": name}, "spec": body}


def objects(api: client.ApiClient) -> client.CustomObjectsApi:
    return client.CustomObjectsApi(api)


def create(api: client.ApiClient, namespace: str, doc: dict[str, Any]) -> dict[str, Any]:
    return raw(objects(api).create_namespaced_custom_object, GROUP, VERSION, namespace, PLURAL, into(namespace, doc))


def read(api: client.ApiClient, namespace: str, name: str) -> Optional[dict[str, Any]]:
    try:
        return raw(objects(api).get_namespaced_custom_object, GROUP, VERSION, namespace, PLURAL, name)
    except ApiException as err:
        if err.status == 404:
            return None
        raise


def status(api: client.ApiClient, namespace: str, name: str) -> dict[str, Any]:
    return ((read(api, namespace, name) or {}).get("status")) or {}


def patch_spec(api: client.ApiClient, namespace: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    """A JSON merge patch of the spec (what `kubectl patch --type=merge` sends)."""
    return raw(objects(api).patch_namespaced_custom_object, GROUP, VERSION, namespace, PLURAL, name, {"spec": spec})


def condition(body_or_status: dict[str, Any], kind: str) -> dict[str, Any]:
    conds = body_or_status.get("conditions") or (body_or_status.get("status") or {}).get("conditions") or []
    return next((c for c in conds if c.get("type") == kind), {})


def wait_status(api: client.ApiClient, namespace: str, name: str, holds: Callable[[dict[str, Any]], bool],
                what: str, timeout: float = PHASE_TIMEOUT, give_up: tuple[str, ...] = ("Failed",)) -> dict[str, Any]:
    """The DialogModel's status once `holds(status)`; the last status in the message if never, or
    at once when it reaches a phase of `give_up` that does not hold."""
    last: dict[str, Any] = {}

    def check() -> Optional[dict[str, Any]]:
        nonlocal last
        last = status(api, namespace, name)
        if holds(last):
            return last
        if last.get("phase") in give_up:
            raise AssertionError(f"{namespace}/{name}: {what}: phase {last['phase']} instead; its status: "
                                 f"{yaml.safe_dump(last)[:4000]}")
        return None
    try:
        return wait_for(f"{namespace}/{name}: {what}", check, timeout=timeout, interval=0.5)
    except TimeoutError as err:
        raise AssertionError(f"{err}; its status: {yaml.safe_dump(last)[:4000]}") from None


def wait_phase(api: client.ApiClient, namespace: str, name: str, phase: str, **extra: Any) -> dict[str, Any]:
    """Until status.phase is `phase` (and each of `extra`'s status fields has its value)."""
    return wait_status(api, namespace, name,
                       lambda s: s.get("phase") == phase and all(s.get(k) == v for k, v in extra.items()),
                       f"phase {phase}" + (f" with {extra}" if extra else ""))


def children(api: client.ApiClient, namespace: str, model: str, kind: str) -> list[dict[str, Any]]:
    """The model's children of a built-in kind (Job, Deployment, ConfigMap, Service, Pod...)."""
    selector = f"{names.LABEL_MODEL}={model}"
    calls: dict[str, Callable[..., Any]] = {
        "Job": client.BatchV1Api(api).list_namespaced_job,
        "Deployment": client.AppsV1Api(api).list_namespaced_deployment,
        "ReplicaSet": client.AppsV1Api(api).list_namespaced_replica_set,
        "ConfigMap": client.CoreV1Api(api).list_namespaced_config_map,
        "Service": client.CoreV1Api(api).list_namespaced_service,
        "Pod": client.CoreV1Api(api).list_namespaced_pod,
        "PodDisruptionBudget": client.PolicyV1Api(api).list_namespaced_pod_disruption_budget,
        "HorizontalPodAutoscaler": client.AutoscalingV2Api(api).list_namespaced_horizontal_pod_autoscaler,
    }
    return list(raw(calls[kind], namespace, label_selector=selector)["items"])


def custom_children(api: client.ApiClient, namespace: str, model: str, group: str, version: str,
                    plural: str) -> list[dict[str, Any]]:
    """The model's children of a custom kind (MPIJob, ScaledObject)."""
    return list(raw(objects(api).list_namespaced_custom_object, group, version, namespace, plural,
                    label_selector=f"{names.LABEL_MODEL}={model}")["items"])


def component(objs: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [o for o in objs if (o["metadata"].get("labels") or {}).get(names.LABEL_COMPONENT) == name]


def kubectl(plane: ControlPlane, *args: str) -> str:
    """The real kubectl as the admin; its stdout (fails the test on a non-zero exit)."""
    done = subprocess.run([str(helm_bin_dir() / "kubectl"), "--kubeconfig", str(plane.admin_kubeconfig), *args],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def example_path(file: str) -> Path:
    return EXAMPLES / file
