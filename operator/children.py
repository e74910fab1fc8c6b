"""The Kubernetes objects a DialogModel needs, built from its spec (pure functions, no I/O).

Commands follow the cross-component contract (docs/operator.md): pods read the whole
DialogModel from a ConfigMap mounted at /etc/rejoinder/dialogmodel.yaml and the artifacts from the
PVC `spec.storage.persistentVolumeClaim` mounted at `spec.storage.path`.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Optional

import yaml
from pydantic import ValidationError

from rejoinder.api.spec import API_VERSION, KIND, DialogModelSpec, HorovodController, ResourceRequirements
from rejoinder.feedback.segments import reactions_dir
from rejoinder.pipeline import commands

from . import child_kinds, names
from .security import harden_pod_spec
from .settings import OperatorSettings

GPU_RESOURCE = "nvidia.com/gpu"
SPEC_VOLUME = "spec"
ARTIFACTS_VOLUME = "artifacts"
SSH_AUTH_MOUNT_PATH = "/home/rejoinder/.ssh"  # the trainer image's user (images/trainer)
_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml when available
SSHD_COMMAND = ["/usr/sbin/sshd", "-De", "-f", "/opt/rejoinder/sshd_config"]
SHM_VOLUME = "dshm"
# Spot GPU nodes go away: a pod evicted or preempted (condition DisruptionTarget) is retried
# without counting against backoffLimit. Needs restartPolicy Never, which these Jobs use.
POD_FAILURE_POLICY = {"rules": [{"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]}]}


@dataclass(frozen=True)
class ParsedDialogModel:
    """The DialogModel being reconciled: identity plus its parsed spec."""

    name: str
    namespace: str
    uid: str
    spec: DialogModelSpec
    generation: int = 1
    reranker_version: Optional[str] = None
    """The trained version of spec.serving.reranker its servers are pinned to (the operator learns
    it from that DialogModel's status): part of the revision, so a retrained reranker is a new
    served version, rolled out (or judged as a canary) like a new model version."""

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> "ParsedDialogModel":
        """From the object kopf hands over; pydantic's ValidationError when the spec is invalid."""
        meta = body["metadata"]
        return cls(name=meta["name"], namespace=meta["namespace"], uid=meta["uid"],
                   spec=DialogModelSpec.model_validate(dict(body.get("spec") or {})),
                   generation=int(meta.get("generation") or 1))

    def owner_reference(self) -> dict[str, Any]:
        return {
            "apiVersion": API_VERSION, "kind": KIND, "name": self.name, "uid": self.uid,
            "controller": True, "blockOwnerDeletion": True,
        }

    def metadata(self, name: str, component: str, version: Optional[str] = None,
                 annotations: Optional[dict[str, str]] = None) -> dict[str, Any]:
        meta: dict[str, Any] = {
            "name": name, "namespace": self.namespace,
            "labels": names.labels(self.name, component, version),
            "ownerReferences": [self.owner_reference()],
        }
        if annotations:
            meta["annotations"] = annotations
        return meta


# --- pieces ---------------------------------------------------------------------------------------


def _resources(spec: ResourceRequirements, gpus: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    requests = {k: v for k, v in spec.requests.items() if k != GPU_RESOURCE}
    limits = {k: v for k, v in spec.limits.items() if k != GPU_RESOURCE}
    if gpus:  # GPUs are requested through the gpus fields only (requests must equal limits)
        requests[GPU_RESOURCE] = gpus
        limits[GPU_RESOURCE] = gpus
    if requests:
        out["requests"] = requests
    if limits:
        out["limits"] = limits
    return out


def _with_shm(pod: dict[str, Any], gpus: int) -> dict[str, Any]:
    """A memory-backed /dev/shm on GPU pods: NCCL and TensorFlow need more than the runtime's 64 MiB."""
    if not gpus:
        return pod
    pod["volumes"] = [*pod.get("volumes", []), {"name": SHM_VOLUME, "emptyDir": {"medium": "Memory"}}]
    for c in pod["containers"]:
        c["volumeMounts"] = [*c.get("volumeMounts", []), {"name": SHM_VOLUME, "mountPath": "/dev/shm"}]
    return pod


def _tolerations(items: list[Any]) -> list[dict[str, Any]]:
    return [t.to_wire() for t in items]


def _volumes(model: ParsedDialogModel, version: str, artifacts_read_only: bool = False,
             reactions_writable: bool = False) -> tuple[list[dict], list[dict]]:
    """The spec ConfigMap and the artifacts PVC. A server mounts the artifacts read-only except
    its model's reaction log (`reactions_writable`): that one directory of the same claim is
    mounted writable over it (subPath), so Feedback can append and fsync."""
    volumes = [{"name": SPEC_VOLUME, "configMap": {"name": spec_config_map_name(model, version)}}]
    mounts = [{"name": SPEC_VOLUME, "mountPath": names.SPEC_MOUNT_DIR, **_read_only(True)}]
    storage = model.spec.storage
    if storage.persistent_volume_claim:
        volumes.append({"name": ARTIFACTS_VOLUME, "persistentVolumeClaim": {
            "claimName": storage.persistent_volume_claim, **_read_only(artifacts_read_only and not reactions_writable)}})
        mounts.append({"name": ARTIFACTS_VOLUME, "mountPath": storage.path, **_read_only(artifacts_read_only)})
        if reactions_writable:
            log_dir = reactions_dir(Path(storage.path), model.namespace, model.name)
            mounts.append({"name": ARTIFACTS_VOLUME, "mountPath": str(log_dir),
                           "subPath": str(log_dir.relative_to(storage.path))})
    return volumes, mounts


def _read_only(flag: bool) -> dict[str, bool]:
    """`readOnly: true`, or nothing: the apiserver does not store a false `readOnly` of a volume
    or mount (a plain Go bool, omitempty), so a desired `false` never matches what it returns and
    the planner would patch the Deployment at every reconcile."""
    return {"readOnly": True} if flag else {}


def _env(model: ParsedDialogModel, version: str) -> list[dict[str, Any]]:
    return [
        {"name": "REJOINDER_MODEL_VERSION", "value": version},
        {"name": "PYTHONUNBUFFERED", "value": "1"},
        {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
    ]


def processes_per_worker(spec: DialogModelSpec) -> int:
    return max(1, spec.training.gpus_per_worker)


# --- the spec ConfigMap ---------------------------------------------------------------------------


def dialog_model_document(model: ParsedDialogModel) -> str:
    return _document(model.name, model.namespace, model.uid, json.dumps(model.spec.to_wire(), sort_keys=True))


@functools.lru_cache(maxsize=2048)
def _document(name: str, namespace: str, uid: str, spec_json: str) -> str:
    """Cached: YAML emission dominates planning time, and a spec rarely changes."""
    doc = {"apiVersion": API_VERSION, "kind": KIND, "metadata": {"name": name, "namespace": namespace, "uid": uid},
           "spec": json.loads(spec_json)}
    return yaml.dump(doc, Dumper=_Dumper, sort_keys=False)


RERANKER_VERSION_KEY = "reranker-version"


def _spec_data(model: ParsedDialogModel) -> dict[str, str]:
    data = {"dialogmodel.yaml": dialog_model_document(model)}
    if model.reranker_version:
        data[RERANKER_VERSION_KEY] = model.reranker_version
    return data


def reranker_of(config_map: Optional[Mapping[str, Any]]) -> Optional[str]:
    """The reranker version a revision (spec ConfigMap) pins, if any."""
    return ((config_map or {}).get("data") or {}).get(RERANKER_VERSION_KEY) or None


def spec_config_map_name(model: ParsedDialogModel, version: str) -> str:
    """Also the name of the serving revision: pods mounting it run exactly this spec."""
    return names.spec_config_map(model.name, version, content_hash(_spec_data(model)))


def spec_config_map(model: ParsedDialogModel, version: str) -> dict[str, Any]:
    return {
        **child_kinds.type_meta("ConfigMap"),
        "metadata": model.metadata(spec_config_map_name(model, version), names.COMPONENT_SPEC, version),
        "immutable": True,  # pods of a Job or a rollout must never see their spec change under them
        "data": _spec_data(model),
    }


def spec_of(config_map: Optional[Mapping[str, Any]]) -> Optional[DialogModelSpec]:
    """The DialogModel spec a spec ConfigMap holds (None when it is unreadable)."""
    try:
        doc = yaml.safe_load(((config_map or {}).get("data") or {}).get("dialogmodel.yaml") or "")
        return DialogModelSpec.model_validate(doc["spec"])
    except (yaml.YAMLError, ValidationError, KeyError, TypeError):
        return None


def mounted_spec(obj: Mapping[str, Any]) -> Optional[str]:
    """The spec ConfigMap a Job, MPIJob or Deployment mounts (first pod template found)."""
    stack: list[Any] = [obj.get("spec")]
    while stack:
        node = stack.pop()
        if isinstance(node, Mapping):
            volumes = node.get("volumes")
            for volume in volumes if isinstance(volumes, list) else ():
                if isinstance(volume, Mapping) and volume.get("name") == SPEC_VOLUME and "configMap" in volume:
                    return volume["configMap"].get("name")
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return None


def content_hash(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:16]


# --- training -------------------------------------------------------------------------------------


def train_command(spec: DialogModelSpec) -> list[str]:
    """One worker: `horovodrun -np <P> [--gloo] rejoinder train -f <spec>`."""
    return commands.train_argv(commands.IMAGE_CLI, names.SPEC_FILE, processes=processes_per_worker(spec),
                               gloo=spec.training.controller == HorovodController.gloo)


def mpirun_command(spec: DialogModelSpec) -> list[str]:
    """Several workers: the MPIJob launcher runs mpirun over every worker's slots."""
    total = spec.training.workers * processes_per_worker(spec)
    return [
        "mpirun", "-np", str(total), "--allow-run-as-root", "-bind-to", "none", "-map-by", "slot",
        "-x", "NCCL_DEBUG=INFO", "-x", "LD_LIBRARY_PATH", "-x", "PATH",
        *commands.verb_argv(commands.IMAGE_CLI, "train", names.SPEC_FILE),
    ]


def _training_pod(model: ParsedDialogModel, version: str, settings: OperatorSettings, command: list[str],
                  gpus: int, container: str, restart_policy: str, ports: list[dict] | None = None) -> dict[str, Any]:
    t = model.spec.training
    volumes, mounts = _volumes(model, version)
    c: dict[str, Any] = {
        "name": container, "image": t.image or settings.trainer_image, "command": command,
        "env": _env(model, version), "volumeMounts": mounts,
    }
    resources = _resources(t.resources, gpus)
    if resources:
        c["resources"] = resources
    if ports:
        c["ports"] = ports
    pod: dict[str, Any] = {"restartPolicy": restart_policy, "containers": [c], "volumes": volumes}
    if t.node_selector:
        pod["nodeSelector"] = dict(t.node_selector)
    if t.tolerations:
        pod["tolerations"] = _tolerations(t.tolerations)
    return harden_pod_spec(_with_shm(pod, gpus), settings.run_as_user)


def training_job(model: ParsedDialogModel, version: str, settings: OperatorSettings, attempt: int = 1) -> dict[str, Any]:
    t = model.spec.training
    name = names.training_job(model.name, version, attempt)
    pod = _training_pod(model, version, settings, train_command(model.spec), t.gpus_per_worker, "trainer", "Never")
    job_spec: dict[str, Any] = {
        "backoffLimit": t.backoff_limit,
        "podFailurePolicy": POD_FAILURE_POLICY,
        "template": {"metadata": {"labels": names.labels(model.name, names.COMPONENT_TRAIN, version)}, "spec": pod},
    }
    if t.active_deadline_seconds:
        job_spec["activeDeadlineSeconds"] = t.active_deadline_seconds
    return {
        **child_kinds.type_meta("Job"),
        "metadata": model.metadata(name, names.COMPONENT_TRAIN, version),
        "spec": job_spec,
    }


def mpi_job(model: ParsedDialogModel, version: str, settings: OperatorSettings, attempt: int = 1) -> dict[str, Any]:
    t = model.spec.training
    name = names.mpi_job(model.name, version, attempt)
    labels = {"metadata": {"labels": names.labels(model.name, names.COMPONENT_TRAIN, version)}}
    launcher = _training_pod(model, version, settings, mpirun_command(model.spec), 0, "launcher", "OnFailure")
    launcher["containers"][0].pop("resources", None)  # the launcher only runs mpirun
    worker = _training_pod(model, version, settings, SSHD_COMMAND, t.gpus_per_worker, "worker", "OnFailure",
                           ports=[{"name": "ssh", "containerPort": 2222}])
    run_policy: dict[str, Any] = {"cleanPodPolicy": "Running", "backoffLimit": t.backoff_limit}
    if t.active_deadline_seconds:
        run_policy["activeDeadlineSeconds"] = t.active_deadline_seconds
    return {
        **child_kinds.type_meta("MPIJob"),
        "metadata": model.metadata(name, names.COMPONENT_TRAIN, version),
        "spec": {
            "slotsPerWorker": processes_per_worker(model.spec),
            "launcherCreationPolicy": "WaitForWorkersReady",
            "sshAuthMountPath": SSH_AUTH_MOUNT_PATH,
            "runPolicy": run_policy,
            "mpiReplicaSpecs": {
                "Launcher": {"replicas": 1, "restartPolicy": "OnFailure", "template": {**labels, "spec": launcher}},
                "Worker": {"replicas": t.workers, "restartPolicy": "OnFailure", "template": {**labels, "spec": worker}},
            },
        },
    }


def training_workload(model: ParsedDialogModel, version: str, settings: OperatorSettings, attempt: int = 1) -> dict[str, Any]:
    if model.spec.training.workers > 1:
        return mpi_job(model, version, settings, attempt)
    return training_job(model, version, settings, attempt)


# --- index ------------------------------------------------------------------------------------------


def index_job(model: ParsedDialogModel, version: str, index_version: str, settings: OperatorSettings) -> dict[str, Any]:
    volumes, mounts = _volumes(model, version)
    gpus = 1 if model.spec.index.gpu else 0
    c: dict[str, Any] = {
        "name": "build-index", "image": model.spec.training.image or settings.trainer_image,
        "command": commands.build_index_argv(commands.IMAGE_CLI, names.SPEC_FILE),
        "env": _env(model, version), "volumeMounts": mounts,
    }
    resources = _resources(model.spec.training.resources, gpus)
    if resources:
        c["resources"] = resources
    pod: dict[str, Any] = {"restartPolicy": "Never", "containers": [c], "volumes": volumes}
    _with_shm(pod, gpus)
    if model.spec.training.node_selector:
        pod["nodeSelector"] = dict(model.spec.training.node_selector)
    if model.spec.training.tolerations:
        pod["tolerations"] = _tolerations(model.spec.training.tolerations)
    return {
        **child_kinds.type_meta("Job"),
        "metadata": model.metadata(names.index_job(model.name, index_version), names.COMPONENT_INDEX, version),
        "spec": {
            "backoffLimit": 2,
            "podFailurePolicy": POD_FAILURE_POLICY,
            "template": {"metadata": {"labels": names.labels(model.name, names.COMPONENT_INDEX, version)},
                         "spec": harden_pod_spec(pod, settings.run_as_user)},
        },
    }


# --- serving --------------------------------------------------------------------------------------


def serve_command(version: str, reranker_version: Optional[str] = None) -> list[str]:
    argv = commands.serve_argv(commands.IMAGE_CLI, names.SPEC_FILE, version=version, host="0.0.0.0",
                               port=names.GRPC_PORT, metrics_port=names.METRICS_PORT)
    return argv + (["--reranker-version", reranker_version] if reranker_version else [])


def server_deployment(model: ParsedDialogModel, version: str, replicas: int, settings: OperatorSettings,
                      annotations: dict[str, str], spec_hash: str, track: str = names.TRACK_STABLE) -> dict[str, Any]:
    """The stable Deployment (`<model>-server`) or, with track canary, the canary's (`<model>-canary`).

    Both tracks' pods match the Service's selector (model + component). The stable Deployment's
    selector is that same pair (immutable, so it stays as it always was) and overlaps the canary's
    pods; each ReplicaSet still owns only its own pods (pod-template-hash and ownerReferences)."""
    s = model.spec.serving
    volumes, mounts = _volumes(model, version, artifacts_read_only=True, reactions_writable=True)
    container: dict[str, Any] = {
        "name": "model-server", "image": s.image or settings.model_server_image,
        "command": serve_command(version, model.reranker_version),
        "env": _env(model, version), "volumeMounts": mounts,
        "ports": [
            {"name": "grpc", "containerPort": names.GRPC_PORT, "protocol": "TCP"},
            {"name": "metrics", "containerPort": names.METRICS_PORT, "protocol": "TCP"},
        ],
        # Loading a model (and compiling it with XLA) takes a while: a startup probe gives it up to
        # 10 minutes before liveness applies; readiness asks for the DialogService itself.
        "startupProbe": {"grpc": {"port": names.GRPC_PORT}, "periodSeconds": 5, "failureThreshold": 120},
        "readinessProbe": {"grpc": {"port": names.GRPC_PORT, "service": "rejoinder.serving.v1.DialogService"},
                           "periodSeconds": 5, "failureThreshold": 2},
        "livenessProbe": {"grpc": {"port": names.GRPC_PORT}, "periodSeconds": 10, "failureThreshold": 3},
        # Endpoints are removed asynchronously: keep serving a few seconds after SIGTERM is due,
        # so no client is sent to a pod that already stopped (the server then drains in-flight calls).
        "lifecycle": {"preStop": {"sleep": {"seconds": 10}}},
    }
    resources = _resources(s.resources, s.gpus)
    if resources:
        container["resources"] = resources
    pod: dict[str, Any] = {"containers": [container], "volumes": volumes, "terminationGracePeriodSeconds": 45}
    _with_shm(pod, s.gpus)
    if s.node_selector:
        pod["nodeSelector"] = dict(s.node_selector)
    if s.tolerations:
        pod["tolerations"] = _tolerations(s.tolerations)
    canary = track == names.TRACK_CANARY
    name = names.canary(model.name) if canary else names.server(model.name)
    template_labels = {**names.labels(model.name, names.COMPONENT_SERVER), names.LABEL_VERSION: version,
                       names.LABEL_TRACK: track}
    selector = names.selector(model.name, names.COMPONENT_SERVER)
    if canary:
        selector[names.LABEL_TRACK] = names.TRACK_CANARY
    metadata = model.metadata(name, names.COMPONENT_SERVER, annotations=annotations)
    metadata["labels"][names.LABEL_TRACK] = track
    return {
        **child_kinds.type_meta("Deployment"),
        "metadata": metadata,
        "spec": {
            "replicas": replicas,
            "progressDeadlineSeconds": model.spec.rollout.progress_deadline_seconds,
            "revisionHistoryLimit": 3,
            "selector": {"matchLabels": selector},
            # The old version keeps serving until new pods are ready: never go below the replica count.
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
            "template": {
                "metadata": {
                    "labels": template_labels,
                    "annotations": {names.ANN_SPEC_HASH: spec_hash, "prometheus.io/scrape": "true",
                                    "prometheus.io/port": str(names.METRICS_PORT)},
                },
                "spec": harden_pod_spec(pod, settings.run_as_user),
            },
        },
    }


def server_service(model: ParsedDialogModel) -> dict[str, Any]:
    return {
        **child_kinds.type_meta("Service"),
        "metadata": model.metadata(names.server(model.name), names.COMPONENT_SERVER),
        "spec": {
            "type": "ClusterIP",
            "selector": names.selector(model.name, names.COMPONENT_SERVER),
            "ports": [
                {"name": "grpc", "port": names.GRPC_PORT, "targetPort": "grpc", "protocol": "TCP", "appProtocol": "grpc"},
                {"name": "metrics", "port": names.METRICS_PORT, "targetPort": "metrics", "protocol": "TCP"},
            ],
        },
    }


def headless_service(model: ParsedDialogModel) -> dict[str, Any]:
    """`<model>-headless`: DNS answers every ready pod of both tracks, so a gRPC client with
    `dns:///<model>-headless.<ns>.svc:8500` and round_robin spreads requests over pods (a ClusterIP
    balances long-lived connections, not requests). The canary's share is then its share of pods."""
    return {
        **child_kinds.type_meta("Service"),
        "metadata": model.metadata(names.headless(model.name), names.COMPONENT_SERVER),
        "spec": {
            "clusterIP": "None",
            "selector": names.selector(model.name, names.COMPONENT_SERVER),
            "ports": [{"name": "grpc", "port": names.GRPC_PORT, "targetPort": "grpc", "protocol": "TCP", "appProtocol": "grpc"}],
        },
    }


def server_pdb(model: ParsedDialogModel) -> dict[str, Any]:
    return {
        **child_kinds.type_meta("PodDisruptionBudget"),
        "metadata": model.metadata(names.server(model.name), names.COMPONENT_SERVER),
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": names.selector(model.name, names.COMPONENT_SERVER)}},
    }


def endpoint(model: ParsedDialogModel) -> str:
    return f"{names.server(model.name)}.{model.namespace}.svc:{names.GRPC_PORT}"


# --- deletion ---------------------------------------------------------------------------------------


def cleanup_job(model: ParsedDialogModel, settings: OperatorSettings) -> Optional[dict[str, Any]]:
    """Removes the model's artifacts after it is deleted (storage.keepOnDelete false).

    Not owned by the DialogModel (it must outlive it); it deletes itself an hour after finishing."""
    storage = model.spec.storage
    if storage.keep_on_delete or not storage.persistent_volume_claim:
        return None
    target = f"{storage.path.rstrip('/')}/{model.namespace}/{model.name}"
    pod = {
        "restartPolicy": "Never",
        "containers": [{"name": "cleanup", "image": model.spec.training.image or settings.trainer_image,
                        "command": ["rm", "-rf", "--", target],
                        "volumeMounts": [{"name": ARTIFACTS_VOLUME, "mountPath": storage.path}]}],
        "volumes": [{"name": ARTIFACTS_VOLUME, "persistentVolumeClaim": {"claimName": storage.persistent_volume_claim}}],
    }
    meta = model.metadata(names.cleanup_job(model.name, model.uid), names.COMPONENT_CLEANUP)
    meta.pop("ownerReferences")
    return {
        **child_kinds.type_meta("Job"), "metadata": meta,
        "spec": {"backoffLimit": 3, "ttlSecondsAfterFinished": 3600,
                 "template": {"metadata": {"labels": names.labels(model.name, names.COMPONENT_CLEANUP)},
                              "spec": harden_pod_spec(pod, settings.run_as_user)}},
    }
