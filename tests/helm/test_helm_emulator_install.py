"""`helm template | kubectl apply` into the operator tests' API emulator, then the operator
started the way the chart's Deployment starts it, as the chart's ServiceAccount, with the
chart's RBAC enforced by the emulator, taken through create → Serving → delete.

The operator runs as a real `rejoinder operator` process with the container's command, args and
environment read back from the applied Deployment; the emulator answers 403 to anything the
applied Roles do not grant, so a permission missing from the chart stops the flow here.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from rejoinder.operator import permissions
from tests.helm.helm_support import NAMESPACE, RELEASE, kubectl_path, template_text
from tests.helm.rbac_support import RbacEmulator, RbacEmulatorThread

pytestmark = pytest.mark.timeout(240)
MODEL_NS = "dialog"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(what: str, check: Callable[[], Any], timeout: float = 45.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _kubectl(kubeconfig: Path, *args: str, stdin: str | None = None) -> str:
    result = subprocess.run([str(kubectl_path()), "--kubeconfig", str(kubeconfig), *args], input=stdin,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, f"kubectl {' '.join(args)}: {result.stderr}"
    return result.stdout


class Installed:
    """The chart applied to an emulator, and the operator started from its Deployment."""

    def __init__(self, thread: RbacEmulatorThread, tmp_path: Path, values: dict[str, Any]):
        self.thread, self.emulator, self.tmp_path = thread, thread.emulator, tmp_path
        self.values = values
        self.admin = thread.write_kubeconfig(tmp_path / "admin.kubeconfig")
        self.applied = _kubectl(self.admin, "apply", "--validate=false", "-f", "-",
                                stdin=template_text(values, tmp_path, include_crds=True))
        self.process: subprocess.Popen | None = None

    def get(self, group: str, plural: str, name: str, namespace: str = MODEL_NS) -> dict | None:
        return self.emulator.get_object(group, plural, namespace, name)

    def deployment(self) -> dict:
        (deployment,) = self.emulator.objects("apps", "deployments", NAMESPACE)
        return deployment

    def start_operator(self) -> dict[str, Any]:
        """Run the operator container's command as a process, as the Deployment's ServiceAccount."""
        pod = self.deployment()["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        self.emulator.sa_namespace, self.emulator.sa_name = NAMESPACE, pod["serviceAccountName"]
        downward = {"metadata.namespace": NAMESPACE, "metadata.name": f"{RELEASE}-operator-0"}
        env = {e["name"]: e["value"] if "value" in e else downward[e["valueFrom"]["fieldRef"]["fieldPath"]]
               for e in container["env"]}
        kubeconfig = yaml.safe_load(self.admin.read_text())
        kubeconfig["clusters"][0]["cluster"]["server"] = self.thread.subject_url  # the ServiceAccount's door
        sa_config = self.tmp_path / "serviceaccount.kubeconfig"
        sa_config.write_text(yaml.safe_dump(kubeconfig))
        executable = shutil.which(container["command"][0], path=str(Path(sys.executable).parent)) \
            or shutil.which(container["command"][0])
        assert executable, f"{container['command'][0]} is not installed"
        self.log = self.tmp_path / "operator.log"
        self.process = subprocess.Popen(
            [executable, *container["command"][1:], *container["args"]],
            env={**os.environ, **env, "KUBECONFIG": str(sa_config), "HOME": str(self.tmp_path)},
            stdout=self.log.open("w"), stderr=subprocess.STDOUT,
        )
        return container

    def stop_operator(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)

    def operator_log(self) -> str:
        return self.log.read_text() if hasattr(self, "log") and self.log.exists() else ""


@pytest.fixture
def install(tmp_path: Path) -> Iterator[Callable[[dict[str, Any]], Installed]]:
    made: list[tuple[RbacEmulatorThread, Installed]] = []

    def make(values: dict[str, Any]) -> Installed:
        thread = RbacEmulatorThread(RbacEmulator())
        thread.__enter__()
        installed = Installed(thread, tmp_path, values)
        made.append((thread, installed))
        return installed

    yield make
    for thread, installed in made:
        installed.stop_operator()
        thread.__exit__(None, None, None)


def _values(**operator: Any) -> dict[str, Any]:
    # Free ports (tests run in parallel on one machine) and short periods keep the run short;
    # everything else is the chart's defaults.
    return {"operator": {"healthPort": _free_port(), "metricsPort": _free_port(), "resyncSeconds": 1,
                         "autoscaleSeconds": 2, **operator}}


DIALOG_MODEL = {
    "apiVersion": "rejoinder.dev/v1alpha1", "kind": "DialogModel",
    "metadata": {"name": "hello", "namespace": MODEL_NS},
    "spec": {"task": "retrieval", "data": {"preset": "chatterbot"}, "training": {"gpusPerWorker": 0, "steps": 200},
             "storage": {"persistentVolumeClaim": "rejoinder-artifacts", "keepOnDelete": False}},
}


def _complete_job(inst: Installed, prefix: str) -> str:
    job = _wait(f"a Job {prefix}*", lambda: next(
        (j for j in inst.emulator.objects("batch", "jobs", MODEL_NS) if j["metadata"]["name"].startswith(prefix)), None),
        timeout=45)
    name = job["metadata"]["name"]
    inst.thread.client.patch_status("batch/v1", "jobs", MODEL_NS, name, {
        "succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]})
    return name


def _run_to_serving_and_delete(inst: Installed) -> None:
    client = inst.thread.client
    client.create(DIALOG_MODEL, "dialogmodels")
    train = _complete_job(inst, "hello-train-")
    job = inst.get("batch", "jobs", train)
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["image"] == f"ghcr.io/rejoinder/rejoinder-trainer:{inst.deployment()['metadata']['labels']['app.kubernetes.io/version']}"
    _complete_job(inst, "hello-index-")
    deployment = _wait("the model-server Deployment", lambda: inst.get("apps", "deployments", "hello-server"))
    replicas = deployment["spec"]["replicas"]
    client.patch_status("apps/v1", "deployments", MODEL_NS, "hello-server", {
        "observedGeneration": deployment["metadata"].get("generation", 1), "replicas": replicas,
        "updatedReplicas": replicas, "readyReplicas": replicas, "availableReplicas": replicas})
    status = _wait("phase Serving", lambda: (s := (inst.get("rejoinder.dev", "dialogmodels", "hello") or {})
                                            .get("status") or {}).get("phase") == "Serving" and s)
    assert status["endpoint"].startswith("hello-server.dialog.svc:")
    assert inst.get("", "services", "hello-server") and inst.get("policy", "poddisruptionbudgets", "hello-server")
    client.delete("rejoinder.dev/v1alpha1", "dialogmodels", MODEL_NS, "hello")
    _wait("the DialogModel's finalizer to be removed", lambda: inst.get("rejoinder.dev", "dialogmodels", "hello") is None)
    assert inst.get("apps", "deployments", "hello-server") is None
    assert [j for j in inst.emulator.objects("batch", "jobs", MODEL_NS) if j["metadata"]["name"].startswith("hello-cleanup-")], \
        "keepOnDelete: false starts the cleanup Job"


def _check_requests(inst: Installed) -> None:
    refused = inst.emulator.denied
    assert refused == [], f"the chart's RBAC refused: {refused}\n{inst.operator_log()[-3000:]}"
    used = {(r.verb, r.group, r.resource, r.subresource) for r in inst.emulator.authorized}
    assert used, "the operator made no requests through the ServiceAccount's door"
    for verb, group, resource, sub in used:
        assert permissions.allowed(verb, group, resource, sub), (verb, group, resource, sub)


def test_chart_installs_and_operator_runs_with_its_service_account(install: Callable[..., Installed]) -> None:
    inst = install(_values())
    for kind in ("customresourcedefinition.apiextensions.k8s.io/dialogmodels.rejoinder.dev", "serviceaccount/",
                 "clusterrole.rbac.authorization.k8s.io/", "clusterrolebinding.rbac.authorization.k8s.io/",
                 "service/", "deployment.apps/"):
        assert kind in inst.applied, inst.applied
    crd = inst.get("apiextensions.k8s.io", "customresourcedefinitions", "dialogmodels.rejoinder.dev", namespace="")
    assert any(c["type"] == "Established" and c["status"] == "True" for c in crd["status"]["conditions"])

    container = inst.start_operator()
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    probe = container["livenessProbe"]["httpGet"]
    # The liveness probe the chart declares is answered by the operator it starts.
    _wait("the liveness endpoint", lambda: _http_ok(f"http://127.0.0.1:{ports[probe['port']]}{probe['path']}"))
    _run_to_serving_and_delete(inst)
    metrics = urllib.request.urlopen(f"http://127.0.0.1:{ports['metrics']}/metrics", timeout=5).read().decode()
    assert "rejoinder_operator_reconciles_total" in metrics
    _check_requests(inst)


def test_operator_watching_chosen_namespaces_runs_with_roles_only(install: Callable[..., Installed]) -> None:
    inst = install(_values(watchNamespaces=[MODEL_NS]))
    assert "role.rbac.authorization.k8s.io/" in inst.applied
    inst.start_operator()
    _run_to_serving_and_delete(inst)
    _check_requests(inst)
    # nothing namespaced was read across all namespaces: that would need a ClusterRole
    cluster_scoped = {(p.api_group, p.resource) for p in permissions.PERMISSIONS if p.cluster_scoped}
    for r in inst.emulator.authorized:
        assert r.namespace or (r.group, r.resource) in cluster_scoped, r


def test_operator_without_rbac_is_refused(install: Callable[..., Installed]) -> None:
    """The emulator's enforcement is real: with rbac.create=false nothing is granted."""
    inst = install({**_values(), "rbac": {"create": False}})
    inst.start_operator()
    _wait("a refused request", lambda: inst.emulator.denied, timeout=30)
    inst.thread.client.create(DIALOG_MODEL, "dialogmodels")
    time.sleep(2)
    assert not inst.emulator.objects("batch", "jobs", MODEL_NS), "an operator without permissions created a Job"


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False
