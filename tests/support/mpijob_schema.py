"""A strict JSON schema of kubeflow.org/v2beta1 MPIJob, for validating what the operator renders.

No package on PyPI or npm ships mpi-operator's v2beta1 CRD or generated models (kubeflow-training
has only training-operator's kubeflow.org/v1 MPIJob, without launcherCreationPolicy or
sshAuthMountPath), so this schema is written here from the v2beta1 API (`MPIJobSpec`, `RunPolicy`,
`ReplicaSpec`) as mpi-operator documents it. It is strict: unknown fields are errors, and pod
templates are checked against Kubernetes' own PodTemplateSpec schema (kubernetes-validate's strict
bundle). `problems()` adds what mpi-operator's controller validates beyond its CRD: the names it
derives (`<name>-launcher` Job, `<name>-worker-<i>` pods and hostnames, `<name>-worker` Service)
must be DNS-1035 labels, one launcher replica, a restart policy it supports.

Looser than the real CRD where mpi-operator's CRD has fields this leaves out: `schedulingPolicy`
is accepted as an object without checking its fields; status is not validated.
"""

from __future__ import annotations

import functools
from typing import Any

import jsonschema

from k8s_emulator.admission import KUBERNETES_VERSION, dns1035_label

_DEFINITIONS = "https://kubernetes.io/api/_definitions.json"  # the $id of kubernetes-validate's definitions
WORKER_INDEX_DIGITS = 4  # names are checked for up to 10,000 workers

_RESTART = {"enum": ["Always", "OnFailure", "Never", "ExitCode"]}
_INT32 = {"type": "integer", "minimum": -(2 ** 31), "maximum": 2 ** 31 - 1}


def _strict(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        out["required"] = required
    return out


def _schema() -> dict[str, Any]:
    replica = _strict({
        "replicas": {**_INT32, "minimum": 0},
        "restartPolicy": _RESTART,
        "template": {"$ref": f"{_DEFINITIONS}#/$defs/io.k8s.api.core.v1.PodTemplateSpec"},
    }, required=["template"])
    run_policy = _strict({
        "cleanPodPolicy": {"enum": ["None", "Running", "All"]},
        "ttlSecondsAfterFinished": {**_INT32, "minimum": 0},
        "activeDeadlineSeconds": {"type": "integer", "minimum": 0},
        "backoffLimit": {**_INT32, "minimum": 0},
        "schedulingPolicy": {"type": "object"},
        "suspend": {"type": "boolean"},
        "managedBy": {"type": "string"},
    })
    spec = _strict({
        "slotsPerWorker": {**_INT32, "minimum": 1},
        "runLauncherAsWorker": {"type": "boolean"},
        "runPolicy": run_policy,
        "mpiReplicaSpecs": _strict({"Launcher": replica, "Worker": replica}, required=["Launcher"]),
        "sshAuthMountPath": {"type": "string"},
        "launcherCreationPolicy": {"enum": ["AtStartup", "WaitForWorkersReady"]},
        "mpiImplementation": {"enum": ["OpenMPI", "Intel", "MPICH"]},
    }, required=["mpiReplicaSpecs"])
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "mpijob-v2beta1.json",
        **_strict({
            "apiVersion": {"const": "kubeflow.org/v2beta1"},
            "kind": {"const": "MPIJob"},
            "metadata": {"$ref": f"{_DEFINITIONS}#/$defs/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"},
            "spec": spec,
            "status": {"type": "object"},
        }, required=["apiVersion", "kind", "metadata", "spec"]),
    }


@functools.lru_cache(maxsize=1)
def _validator() -> jsonschema.Validator:
    import kubernetes_validate.utils as kv
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012

    definitions = kv.schema_contents(f"kubernetes-json-schema/v{KUBERNETES_VERSION}-local-strict/_definitions.json",
                                     KUBERNETES_VERSION)
    registry = Registry().with_resources([
        (_DEFINITIONS, Resource.from_contents(definitions, default_specification=DRAFT202012)),
        ("mpijob-v2beta1.json", Resource.from_contents(_schema())),
    ])
    return jsonschema.Draft202012Validator(_schema(), registry=registry)


def problems(mpijob: dict[str, Any]) -> list[str]:
    """Schema errors plus mpi-operator's own checks; empty when the MPIJob is acceptable."""
    out = [f"{'.'.join(str(p) for p in e.absolute_path) or '<root>'}: {e.message}"
           for e in _validator().iter_errors(mpijob)]
    name = str((mpijob.get("metadata") or {}).get("name", ""))
    for derived in (f"{name}-launcher", f"{name}-worker", f"{name}-worker-{10 ** WORKER_INDEX_DIGITS - 1}"):
        out += [f"metadata.name: {derived!r}: {p}" for p in dns1035_label(derived)]
    specs = ((mpijob.get("spec") or {}).get("mpiReplicaSpecs") or {})
    if (specs.get("Launcher") or {}).get("replicas", 1) != 1:
        out.append("spec.mpiReplicaSpecs.Launcher.replicas: must be 1")
    return out
