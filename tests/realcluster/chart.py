"""`helm install` of the chart, as a user runs it: the real helm binary, the CRD from the chart's
crds/ directory, the operator's ServiceAccount and RBAC from its templates."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client

from tests.controlplane.kube import raw
from tests.realcluster.cluster_support import REPO, helm_bin_dir

CHART = REPO / "helm" / "rejoinder"
RELEASE = "rejoinder"
NAMESPACE = "rejoinder-system"


@dataclass(frozen=True)
class Release:
    name: str
    namespace: str
    service_account: str
    cluster_role: str

    @property
    def user(self) -> str:
        """Who the operator is to the apiserver with this release's ServiceAccount token."""
        return f"system:serviceaccount:{self.namespace}:{self.service_account}"


def helm(kubeconfig: Path, home: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """The real helm binary against the cluster; its cache and config stay under `home`."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home),
           "HELM_CACHE_HOME": str(home / "cache"), "HELM_CONFIG_HOME": str(home / "config"),
           "HELM_DATA_HOME": str(home / "data"), "KUBECONFIG": str(kubeconfig)}
    return subprocess.run([str(helm_bin_dir() / "helm"), *args], capture_output=True, text=True, env=env,
                          timeout=timeout)


def install(kubeconfig: Path, home: Path, values: dict[str, Any]) -> Release:
    """helm install --wait: the CRD, the operator's ServiceAccount, RBAC and Deployment (whose pod
    kwok reports Ready: no image runs here, the tests start the operator process themselves)."""
    home.mkdir(parents=True, exist_ok=True)
    values_file = home / "values.yaml"
    values_file.write_text(yaml.safe_dump(values))
    done = helm(kubeconfig, home, "install", RELEASE, str(CHART), "--namespace", NAMESPACE, "--create-namespace",
                "-f", str(values_file), "--wait", "--timeout", "4m")
    if done.returncode != 0:
        raise AssertionError(f"helm install failed ({done.returncode}):\n{done.stderr}\n{done.stdout}")
    return Release(name=RELEASE, namespace=NAMESPACE, service_account=RELEASE, cluster_role=RELEASE)


def operator_environment(api: client.ApiClient, release: Release) -> dict[str, str]:
    """The environment the chart gives the operator container (its REJOINDER_* settings), with
    the downward-API values the kubelet would fill in."""
    deployment = raw(client.AppsV1Api(api).read_namespaced_deployment, release.name, release.namespace)
    (container,) = [c for c in deployment["spec"]["template"]["spec"]["containers"] if c["name"] == "operator"]
    downward = {"metadata.namespace": release.namespace, "metadata.name": f"{release.name}-out-of-cluster"}
    env = {}
    for var in container.get("env") or []:
        if "valueFrom" in var:
            env[var["name"]] = downward[var["valueFrom"]["fieldRef"]["fieldPath"]]
        else:  # the apiserver stores `value: ""` as no value at all
            env[var["name"]] = var.get("value", "")
    return env
