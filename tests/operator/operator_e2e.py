"""End-to-end harness: the emulator (tests/k8s_emulator) + the real kopf operator in threads, and
helpers that play the missing controllers (Job, MPIJob, Deployment, kubelet) by writing status.

    with EmulatorThread() as emu, running_operator(emu, tmp_path) as op:
        emu.client.create(dialog_model("a"), "dialogmodels")
        job = wait_for(lambda: get_job(emu, "default", name), "the training Job")
        finish_job(emu, job, log="REJOINDER_METRICS {...}")
"""

from __future__ import annotations

import contextlib
import copy
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Iterator, Optional, TypeVar

import kubernetes.config.kube_config
from k8s_emulator import EmulatorThread
from kopf.testing import KopfRunner

from rejoinder.operator import names
from rejoinder.operator.handlers import build_registry
from rejoinder.operator.settings import OperatorSettings

REPO = Path(__file__).resolve().parents[2]
CRD = REPO / "crds" / "dialogmodel.yaml"
API = "rejoinder.dev/v1alpha1"
METRICS_URL_ANNOTATION = "test.rejoinder.dev/metrics-url"  # read by the tests' resolver only

T = TypeVar("T")


def wait_for(check: Callable[[], Optional[T]], what: str, timeout: float = 30.0, interval: float = 0.1) -> T:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} (last: {str(last)[:500]})")


def fast_settings(**overrides: Any) -> OperatorSettings:
    """Fast timers; pods' metrics URLs come from an annotation the tests set (real HTTP servers)."""
    base = dict(
        resync_seconds=0.5, autoscale_seconds=0.5, trainer_image="trainer:test", model_server_image="server:test",
        metrics_url_resolver=lambda pod: ((pod.get("metadata") or {}).get("annotations") or {}).get(METRICS_URL_ANNOTATION),
    )
    base.update(overrides)
    return OperatorSettings(**base)


@contextlib.contextmanager
def kubeconfig_env(emu: EmulatorThread, tmp_path: Path) -> Iterator[Path]:
    path = emu.write_kubeconfig(tmp_path / "kubeconfig")
    old_env = os.environ.get("KUBECONFIG")
    old_default = kubernetes.config.kube_config.KUBE_CONFIG_DEFAULT_LOCATION
    os.environ["KUBECONFIG"] = str(path)
    kubernetes.config.kube_config.KUBE_CONFIG_DEFAULT_LOCATION = str(path)  # read at import time
    try:
        yield path
    finally:
        kubernetes.config.kube_config.KUBE_CONFIG_DEFAULT_LOCATION = old_default
        if old_env is None:
            os.environ.pop("KUBECONFIG", None)
        else:
            os.environ["KUBECONFIG"] = old_env


@contextlib.contextmanager
def running_operator(emu: EmulatorThread, tmp_path: Path, settings: Optional[OperatorSettings] = None,
                     extra_args: tuple[str, ...] = ()) -> Iterator[KopfRunner]:
    """The real operator (kopf, all handlers) against the emulator, in a thread."""
    with kubeconfig_env(emu, tmp_path):
        registry, _ = build_registry(settings or fast_settings())
        with KopfRunner(["run", "--standalone", "-A", *extra_args], registry=registry, timeout=60) as runner:
            yield runner


def install_crd(emu: EmulatorThread) -> None:
    emu.client.apply_file(CRD)


def schemaless_crd(group: str, version: str, kind: str, plural: str) -> dict[str, Any]:
    """A namespaced CRD that accepts any object (for third-party APIs whose schema is not vendored:
    looser than the real one, so tests check those objects against the real schema themselves)."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}"},
        "spec": {
            "group": group, "scope": "Namespaced",
            "names": {"kind": kind, "plural": plural, "singular": kind.lower(), "listKind": f"{kind}List"},
            "versions": [{"name": version, "served": True, "storage": True, "subresources": {"status": {}},
                          "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}}],
        },
    }


def dialog_model(name: str, namespace: str = "default", **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "task": "retrieval",
        "data": {"preset": "chatterbot"},
        "storage": {"persistentVolumeClaim": "artifacts", "path": "/var/lib/rejoinder"},
        "training": {"steps": 100, "gpusPerWorker": 2},
    }
    for key, value in spec.items():
        if isinstance(value, dict) and isinstance(body.get(key), dict):
            body[key] = {**body[key], **value}
        else:
            body[key] = value
    return {"apiVersion": API, "kind": "DialogModel", "metadata": {"name": name, "namespace": namespace}, "spec": body}


# --- reading -----------------------------------------------------------------------------------------


def get_model(emu: EmulatorThread, namespace: str, name: str) -> Optional[dict[str, Any]]:
    return emu.client.get(API, "dialogmodels", namespace, name)


def status_of(emu: EmulatorThread, namespace: str, name: str) -> dict[str, Any]:
    return (get_model(emu, namespace, name) or {}).get("status") or {}


def condition(status: dict[str, Any], ctype: str) -> dict[str, Any]:
    return next((c for c in status.get("conditions") or [] if c["type"] == ctype), {})


def objects(emu: EmulatorThread, api_version: str, plural: str, namespace: str, model: str) -> list[dict[str, Any]]:
    return emu.client.list(api_version, plural, namespace, f"{names.LABEL_MODEL}={model}")


def jobs(emu: EmulatorThread, namespace: str, model: str, component: str) -> list[dict[str, Any]]:
    return [j for j in objects(emu, "batch/v1", "jobs", namespace, model)
            if j["metadata"]["labels"].get(names.LABEL_COMPONENT) == component]


def deployment(emu: EmulatorThread, namespace: str, model: str) -> Optional[dict[str, Any]]:
    return emu.client.get("apps/v1", "deployments", namespace, names.server(model))


def deployed_version(dep: Optional[dict[str, Any]]) -> Optional[str]:
    return ((dep or {}).get("metadata") or {}).get("annotations", {}).get(names.ANN_VERSION)


# --- playing the controllers ---------------------------------------------------------------------------

_pod_counter = [0]


def create_pod(emu: EmulatorThread, namespace: str, template: dict[str, Any], prefix: str, *,
               extra_labels: Optional[dict[str, str]] = None, ready: bool = True, log: str = "",
               annotations: Optional[dict[str, str]] = None) -> dict[str, Any]:
    """What a controller + kubelet would do: a pod from a template, Running (and Ready)."""
    _pod_counter[0] += 1
    meta = copy.deepcopy(template.get("metadata") or {})
    labels = {**(meta.get("labels") or {}), **(extra_labels or {})}
    name = f"{prefix}-{_pod_counter[0]:05d}"
    pod = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": name, "namespace": namespace, "labels": labels,
                        "annotations": {**(meta.get("annotations") or {}), **(annotations or {})}},
           "spec": copy.deepcopy(template["spec"])}
    emu.client.create(pod, "pods")
    emu.emulator.pod_logs[(namespace, name)] = log
    emu.client.patch_status("v1", "pods", namespace, name, {
        "phase": "Running", "podIP": "127.0.0.1",
        "conditions": [{"type": "PodScheduled", "status": "True"}, {"type": "Ready", "status": "True" if ready else "False"}],
        "containerStatuses": [{"name": c["name"], "ready": ready, "started": True, "state": {"running": {}}}
                              for c in template["spec"]["containers"]],
    })
    return pod


def start_job(emu: EmulatorThread, job: dict[str, Any], log: str = "") -> dict[str, Any]:
    ns, name = job["metadata"]["namespace"], job["metadata"]["name"]
    pod = create_pod(emu, ns, job["spec"]["template"], name, extra_labels={"job-name": name}, log=log)
    emu.client.patch_status("batch/v1", "jobs", ns, name, {"active": 1, "ready": 1, "startTime": "2026-01-01T00:00:00Z"})
    return pod


def set_log(emu: EmulatorThread, pod: dict[str, Any], log: str) -> None:
    emu.emulator.pod_logs[(pod["metadata"]["namespace"], pod["metadata"]["name"])] = log


def finish_job(emu: EmulatorThread, job: dict[str, Any], succeeded: bool = True) -> None:
    ns, name = job["metadata"]["namespace"], job["metadata"]["name"]
    if succeeded:
        conds = [{"type": "SuccessCriteriaMet", "status": "True"}, {"type": "Complete", "status": "True"}]
        emu.client.patch_status("batch/v1", "jobs", ns, name, {"active": 0, "succeeded": 1, "conditions": conds})
    else:
        conds = [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded",
                  "message": "Job has reached the specified backoff limit"}]
        emu.client.patch_status("batch/v1", "jobs", ns, name, {"active": 0, "failed": 3, "conditions": conds})


def rollout(emu: EmulatorThread, namespace: str, model: str, *, available: bool = True,
            deadline_exceeded: bool = False, metrics_urls: Optional[list[str]] = None) -> list[dict[str, Any]]:
    """The Deployment controller: observe the current template; make its pods Ready (or not)."""
    dep = deployment(emu, namespace, model)
    assert dep is not None, "no Deployment to roll out"
    replicas = dep["spec"]["replicas"]
    version = deployed_version(dep)
    pods = []
    if available:
        for old in emu.client.list("v1", "pods", namespace, f"{names.LABEL_MODEL}={model},{names.LABEL_COMPONENT}=server"):
            if old["metadata"]["labels"].get(names.LABEL_VERSION) != version:
                emu.client.delete("v1", "pods", namespace, old["metadata"]["name"])
        existing = emu.client.list("v1", "pods", namespace, f"{names.LABEL_MODEL}={model},{names.LABEL_COMPONENT}=server,"
                                                             f"{names.LABEL_VERSION}={version}")
        for i in range(len(existing), replicas):
            url = metrics_urls[i] if metrics_urls and i < len(metrics_urls) else None
            pods.append(create_pod(emu, namespace, dep["spec"]["template"], dep["metadata"]["name"],
                                   annotations={METRICS_URL_ANNOTATION: url} if url else None))
    status: dict[str, Any] = {"observedGeneration": dep["metadata"]["generation"], "replicas": replicas}
    if available:
        status.update(updatedReplicas=replicas, readyReplicas=replicas, availableReplicas=replicas,
                      conditions=[{"type": "Available", "status": "True"},
                                  {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"}])
    elif deadline_exceeded:
        status.update(updatedReplicas=1, readyReplicas=replicas, availableReplicas=replicas, replicas=replicas + 1,
                      conditions=[{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
                                   "message": f'ReplicaSet "{names.server(model)}-new" has timed out progressing.'}])
    else:
        status.update(updatedReplicas=1, readyReplicas=replicas, availableReplicas=replicas, replicas=replicas + 1)
    emu.client.patch_status("apps/v1", "deployments", namespace, names.server(model), status)
    return pods


def new_emulator() -> EmulatorThread:
    return EmulatorThread()


def local_http_server(respond: Callable[[str], tuple[str, str]]) -> ThreadingHTTPServer:
    """A real HTTP server on 127.0.0.1 (a free port), serving from a daemon thread; every GET is
    answered with `respond(path)` -> (content type, body)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            content_type, body = respond(self.path)
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server
