"""Is an MPIJob (kubeflow.org/v2beta1) one that the apiserver and mpi-operator accept?

1. The real CRD, mpi-operator v0.8.0's `manifests/base/kubeflow.org_mpijobs.yaml` (committed
   under third_party_crds/ with its provenance), applied as the apiserver applies it: defaults,
   the openAPIV3Schema, CEL rules. That schema is structural and has no `additionalProperties:
   false`, so by default the apiserver *prunes* an unknown field (a typo such as `slotPerWorker`
   vanishes, with only a warning); with `fieldValidation=Strict` (kubectl's default) it is
   rejected. The check here is Strict: an unknown field is a problem.
2. What mpi-operator's controller validates before it creates anything
   (`pkg/apis/kubeflow/validation/validation.go`, after the defaults of `v2beta1/default.go`); a
   spec that fails it only earns a Warning Event on the MPIJob, so it must be caught here.
3. The names it derives (`<name>-launcher` Job, `<name>-worker` Service, `<name>-worker-<i>` pods
   and hostnames) must be DNS-1035 labels; and `launcherCreationPolicy`, which neither the CRD
   nor the controller validates (any value but WaitForWorkersReady silently means AtStartup),
   must be one of the two it knows.
"""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Any

import yaml

from k8s_emulator.admission import dns1035_label
from tests.support.crd_schema import crd_problems

CRD = Path(__file__).resolve().parent / "third_party_crds" / "kubeflow.org_mpijobs.yaml"
VERSION = "v2beta1"
WORKER_INDEX_DIGITS = 4  # names are checked for up to 10,000 workers

# validation.go's sets
CLEAN_POLICIES = ("None", "Running", "All")
MPI_IMPLEMENTATIONS = ("OpenMPI", "Intel", "MPICH")
RESTART_POLICIES = ("Never", "OnFailure")
MANAGED_BY = ("kueue.x-k8s.io/multikueue", "kubeflow.org/mpi-operator")
LAUNCHER_CREATION = ("AtStartup", "WaitForWorkersReady")  # v2beta1/types.go


@functools.lru_cache(maxsize=1)
def open_api_schema() -> dict[str, Any]:
    crd = yaml.safe_load(CRD.read_text())
    version = next(v for v in crd["spec"]["versions"] if v["name"] == VERSION)
    return dict(version["schema"]["openAPIV3Schema"])


def _defaulted(mpijob: dict[str, Any]) -> dict[str, Any]:
    """SetDefaults_MPIJob (default.go)."""
    spec = copy.deepcopy(mpijob.get("spec") or {})
    spec.setdefault("runPolicy", {}).setdefault("cleanPodPolicy", "None")
    spec.setdefault("slotsPerWorker", 1)
    spec["sshAuthMountPath"] = spec.get("sshAuthMountPath") or "/root/.ssh"
    spec["mpiImplementation"] = spec.get("mpiImplementation") or "OpenMPI"
    specs = spec.get("mpiReplicaSpecs") or {}
    for role, restart, replicas in (("Launcher", "OnFailure", 1), ("Worker", "Never", 0)):
        if isinstance(specs.get(role), dict):
            specs[role]["restartPolicy"] = specs[role].get("restartPolicy") or restart
            specs[role].setdefault("replicas", replicas)
    return spec


def controller_problems(mpijob: dict[str, Any]) -> list[str]:
    """ValidateMPIJob (validation.go) on the defaulted spec."""
    spec, out = _defaulted(mpijob), []
    if spec["slotsPerWorker"] < 0:
        out.append("spec.slotsPerWorker: must be greater than or equal to 0")
    policy = spec["runPolicy"]
    if policy["cleanPodPolicy"] not in CLEAN_POLICIES:
        out.append(f"spec.runPolicy.cleanPodPolicy: {policy['cleanPodPolicy']!r} not in {CLEAN_POLICIES}")
    for field in ("ttlSecondsAfterFinished", "activeDeadlineSeconds", "backoffLimit"):
        if policy.get(field) is not None and policy[field] < 0:
            out.append(f"spec.runPolicy.{field}: must be greater than or equal to 0")
    if policy.get("managedBy") is not None and policy["managedBy"] not in MANAGED_BY:
        out.append(f"spec.runPolicy.managedBy: {policy['managedBy']!r} not in {MANAGED_BY}")
    if spec["mpiImplementation"] not in MPI_IMPLEMENTATIONS:
        out.append(f"spec.mpiImplementation: {spec['mpiImplementation']!r} not in {MPI_IMPLEMENTATIONS}")
    specs = spec.get("mpiReplicaSpecs")
    if not specs:
        return out + ["spec.mpiReplicaSpecs: must have replica specs"]
    if not isinstance(specs.get("Launcher"), dict):
        out.append("spec.mpiReplicaSpecs[Launcher]: must have Launcher replica spec")
    for role, replica in specs.items():
        if role not in ("Launcher", "Worker") or not isinstance(replica, dict):
            continue
        where = f"spec.mpiReplicaSpecs[{role}]"
        if replica["restartPolicy"] not in RESTART_POLICIES:
            out.append(f"{where}.restartPolicy: {replica['restartPolicy']!r} not in {RESTART_POLICIES}")
        if not (((replica.get("template") or {}).get("spec") or {}).get("containers")):
            out.append(f"{where}.template.spec.containers: must define at least one container")
        if role == "Launcher" and replica["replicas"] != 1:
            out.append(f"{where}.replicas: must be 1")
        if role == "Worker" and replica["replicas"] <= 0:
            out.append(f"{where}.replicas: must be greater than or equal to 1")
    return out


def problems(mpijob: dict[str, Any]) -> list[str]:
    """Everything the apiserver (Strict) or mpi-operator would refuse; empty when it is acceptable."""
    out = [f"{field}: {message}" for field, message in crd_problems(open_api_schema(), mpijob)]
    if mpijob.get("apiVersion") != f"kubeflow.org/{VERSION}" or mpijob.get("kind") != "MPIJob":
        out.append(f"<root>: not a kubeflow.org/{VERSION} MPIJob")
    if not out:  # the controller only ever sees what the apiserver stored
        out += controller_problems(mpijob)
    name = str((mpijob.get("metadata") or {}).get("name", ""))
    creation = (mpijob.get("spec") or {}).get("launcherCreationPolicy", "AtStartup")
    if creation not in LAUNCHER_CREATION:
        out.append(f"spec.launcherCreationPolicy: {creation!r} would mean AtStartup; not in {LAUNCHER_CREATION}")
    for derived in (f"{name}-launcher", f"{name}-worker", f"{name}-worker-{10 ** WORKER_INDEX_DIGITS - 1}"):
        out += [f"metadata.name: {derived!r}: {p}" for p in dns1035_label(derived)]
    return out
