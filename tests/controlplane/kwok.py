"""What kwok does to nodes and pods, as Stage objects in the cluster (kwok --enable-crds=Stage):
kwok's own node-initialize, node-heartbeat-with-lease, pod-ready and pod-delete stages, and ours
for Job pods (stages/job-pod-complete.yaml). A test changes what happens to the pods of its
namespace with `pod_outcome` (a Job's pod fails, or leaves a termination message) and gives them
a log with `pod_logs` (served through the apiserver's pods/log, from kwok's kubelet API)."""

from __future__ import annotations

import contextlib
import datetime
import json
import uuid
from pathlib import Path
from typing import Any, Iterator

from kubernetes import client
from kubernetes.client.rest import ApiException

from . import crds
from .kube import raw

GROUP, VERSION = "kwok.x-k8s.io", "v1alpha1"
STAGES = Path(__file__).resolve().parent / "stages"
KWOK_STAGES = ("node-initialize.yaml", "node-heartbeat-with-lease.yaml", "pod-ready.yaml", "pod-delete.yaml")
KWOK_CRDS = ("kwok.x-k8s.io_stages.yaml", "kwok.x-k8s.io_clusterlogs.yaml")


def install(api: client.ApiClient, share: Path) -> None:
    """kwok's CRDs, then the stages (before kwok starts: it finds them when it lists)."""
    crds.install(api, [doc for name in KWOK_CRDS for doc in crds.load(share / name)])
    stages = [doc for name in KWOK_STAGES for doc in crds.load(share / name)]
    stages += [doc for path in sorted(STAGES.glob("*.yaml")) for doc in crds.load(path)]
    for stage in stages:
        _create(api, "stages", stage)


def _create(api: client.ApiClient, plural: str, body: dict[str, Any]) -> None:
    raw(client.CustomObjectsApi(api).create_cluster_custom_object, GROUP, VERSION, plural, body)


def _delete(api: client.ApiClient, plural: str, name: str) -> None:
    with contextlib.suppress(ApiException):
        client.CustomObjectsApi(api).delete_cluster_custom_object(GROUP, VERSION, plural, name)


def _terminated(exit_code: int, message: str | None, indent: str) -> list[str]:
    lines = [f"exitCode: {exit_code}", f"reason: {'Completed' if exit_code == 0 else 'Error'}",
             "startedAt: {{ $now | Quote }}", "finishedAt: {{ $now | Quote }}"]
    if message is not None:
        # a Go template string literal takes JSON's escapes, so json.dumps carries any message intact
        lines.append(f"message: {{{{ {json.dumps(message)} | Quote }}}}")
    return [indent + line for line in lines]


def outcome_stage(name: str, namespace: str, exit_code: int, message: str | None,
                  labels: dict[str, str] | None = None) -> dict[str, Any]:
    """A Stage that ends the running Job pods of `namespace` (those with `labels`, if given) with
    `exit_code` and termination `message`; weight 1 beats the default stage's 0."""
    expressions: list[dict[str, Any]] = [
        {"key": ".metadata.namespace", "operator": "In", "values": [namespace]},
        {"key": ".metadata.deletionTimestamp", "operator": "DoesNotExist"},
        {"key": ".status.phase", "operator": "In", "values": ["Running"]},
        {"key": ".metadata.ownerReferences.[].kind", "operator": "In", "values": ["Job"]},
    ]
    expressions += [{"key": f'.metadata.labels["{k}"]', "operator": "In", "values": [v]}
                    for k, v in sorted((labels or {}).items())]
    why = "PodCompleted" if exit_code == 0 else "PodFailed"  # what the kubelet writes
    template = "\n".join([
        "{{ $now := Now }}",
        "conditions:",
        *(f"- {{lastTransitionTime: {{{{ $now | Quote }}}}, status: \"False\", reason: {why}, type: {kind}}}"
          for kind in ("Ready", "ContainersReady")),
        "containerStatuses:",
        "{{ range .spec.containers }}",
        "- image: {{ .image | Quote }}",
        "  name: {{ .name | Quote }}",
        "  ready: false",
        "  restartCount: 0",
        "  started: false",
        "  state:",
        "    terminated:",
        *_terminated(exit_code, message, indent="      "),
        "{{ end }}",
        f"phase: {'Succeeded' if exit_code == 0 else 'Failed'}",
    ])
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "Stage", "metadata": {"name": name},
            "spec": {"resourceRef": {"apiGroup": "v1", "kind": "Pod"},
                     "selector": {"matchExpressions": expressions}, "weight": 1,
                     "next": {"statusTemplate": template}}}


@contextlib.contextmanager
def pod_outcome(api: client.ApiClient, namespace: str, *, exit_code: int = 0, message: str | None = None,
                labels: dict[str, str] | None = None) -> Iterator[str]:
    """While open, Job pods of `namespace` end with `exit_code` (non-zero: phase Failed) and the
    termination `message` in every container's `state.terminated.message`."""
    name = f"rejoinder-outcome-{namespace}-{uuid.uuid4().hex[:6]}"
    _create(api, "stages", outcome_stage(name, namespace, exit_code, message, labels))
    try:
        yield name
    finally:
        _delete(api, "stages", name)


def write_log(path: Path, text: str, stream: str = "stdout") -> None:
    """Write `text` as a container runtime (CRI) log, the only format kwok serves: one
    `<RFC 3339 time> <stream> F <line>` entry per line. A later call replaces the log."""
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    path.write_text("".join(f"{now} {stream} F {line}\n" for line in text.splitlines()))


@contextlib.contextmanager
def pod_logs(api: client.ApiClient, namespace: str, log_file: Path, text: str,
             containers: list[str] | None = None) -> Iterator[Path]:
    """While open, GET pods/log (`kubectl logs`) of every pod in `namespace` answers `text`, kept
    in `log_file` on this machine; kwok reads it on each request, so write_log() may change it."""
    write_log(log_file, text)
    name = f"rejoinder-logs-{namespace}-{uuid.uuid4().hex[:6]}"
    log: dict[str, Any] = {"logsFile": str(log_file), "follow": False}
    if containers:
        log["containers"] = containers
    _create(api, "clusterlogs", {"apiVersion": f"{GROUP}/{VERSION}", "kind": "ClusterLogs", "metadata": {"name": name},
                                 "spec": {"selector": {"matchNamespaces": [namespace]}, "logs": [log]}})
    try:
        yield log_file
    finally:
        _delete(api, "clusterlogs", name)


def unready_stage(name: str, namespace: str, labels: dict[str, str]) -> dict[str, Any]:
    """A Stage that starts the pods of `namespace` with `labels` but never makes them Ready, as a
    kubelet does while a readiness probe fails; weight 1 beats kwok's pod-ready."""
    expressions: list[dict[str, Any]] = [
        {"key": ".metadata.namespace", "operator": "In", "values": [namespace]},
        {"key": ".metadata.deletionTimestamp", "operator": "DoesNotExist"},
        {"key": ".status.phase", "operator": "In", "values": ["Pending"]},
        *({"key": f'.metadata.labels["{k}"]', "operator": "In", "values": [v]} for k, v in sorted(labels.items())),
    ]
    template = "\n".join([
        "{{ $now := Now }}",
        "conditions:",
        '- {lastTransitionTime: {{ $now | Quote }}, status: "True", type: Initialized}',
        *(f'- {{lastTransitionTime: {{{{ $now | Quote }}}}, status: "False", reason: ContainersNotReady, '
          f'message: "containers with unready status: [{{{{ range .spec.containers }}}}{{{{ .name }}}} '
          f'{{{{ end }}}}]", type: {kind}}}' for kind in ("Ready", "ContainersReady")),
        "containerStatuses:",
        "{{ range .spec.containers }}",
        "- image: {{ .image | Quote }}",
        "  name: {{ .name | Quote }}",
        "  ready: false",
        "  started: true",
        "  restartCount: 0",
        "  state:",
        "    running:",
        "      startedAt: {{ $now | Quote }}",
        "{{ end }}",
        "{{ $podIPs := PodIPsWith .spec.nodeName ( or .spec.hostNetwork false ) ( or .metadata.uid \"\" ) "
        "( or .metadata.name \"\" ) ( or .metadata.namespace \"\" ) }}",
        "{{ with $podIPs }}",
        "podIP: {{ index . 0 | Quote }}",
        "{{ end }}",
        "phase: Running",
        "startTime: {{ $now | Quote }}",
    ])
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "Stage", "metadata": {"name": name},
            "spec": {"resourceRef": {"apiGroup": "v1", "kind": "Pod"},
                     "selector": {"matchExpressions": expressions}, "weight": 1,
                     "next": {"statusTemplate": template}}}


@contextlib.contextmanager
def pods_unready(api: client.ApiClient, namespace: str, labels: dict[str, str]) -> Iterator[str]:
    """While open, pods of `namespace` with `labels` that start run but never become Ready (their
    readiness probe fails). Pods started meanwhile stay so: delete them to have them replaced."""
    name = f"rejoinder-unready-{namespace}-{uuid.uuid4().hex[:6]}"
    _create(api, "stages", unready_stage(name, namespace, labels))
    try:
        yield name
    finally:
        _delete(api, "stages", name)
