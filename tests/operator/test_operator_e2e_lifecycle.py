"""Operator lifecycle end to end: a restart mid-training, multi-worker training through an MPIJob,
and the `rejoinder operator` command itself (health and metrics endpoints)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

from k8s_emulator import EmulatorThread
from operator_e2e import (
    API, condition, create_pod, dialog_model, fast_settings, finish_job, install_crd, jobs, local_http_server, rollout, running_operator,
    schemaless_crd, set_log, start_job, status_of, wait_for,
)

from rejoinder.api.spec import DialogModelSpec
from rejoinder.api.versioning import model_version
from rejoinder.operator import names

NS = "team-a"

MPIJOB_CRD = schemaless_crd("kubeflow.org", "v2beta1", "MPIJob", "mpijobs")


def posts_by_operator(emu: EmulatorThread, plural: str) -> int:
    return sum(1 for r in emu.emulator.requests_log
               if r.verb == "create" and r.resource == plural and r.user_agent.startswith("rejoinder-operator"))


def test_operator_restarted_mid_training_resumes_without_a_second_job(tmp_path: Path) -> None:
    with EmulatorThread() as emu:
        install_crd(emu)
        dm = dialog_model("resumed", namespace=NS)
        with running_operator(emu, tmp_path):
            emu.client.create(dm, "dialogmodels")
            job = wait_for(lambda: jobs(emu, NS, "resumed", "train"), "the training Job")[0]
            pod = create_pod(emu, NS, job["spec"]["template"], job["metadata"]["name"],
                             log="REJOINDER_PROGRESS step=10 total=100 loss=1 examples_per_sec=5\n")
            emu.client.patch_status("batch/v1", "jobs", NS, job["metadata"]["name"], {"active": 1})
            wait_for(lambda: status_of(emu, NS, "resumed").get("training", {}).get("step") == 10, "progress 10")
        # the operator is gone; training goes on
        set_log(emu, pod, "REJOINDER_PROGRESS step=60 total=100 loss=0.5 examples_per_sec=5\n")
        with running_operator(emu, tmp_path):
            wait_for(lambda: status_of(emu, NS, "resumed").get("training", {}).get("step") == 60, "progress 60 after restart")
            time.sleep(1.5)  # several resyncs
        assert len(jobs(emu, NS, "resumed", "train")) == 1
        assert posts_by_operator(emu, "jobs") == 1  # the restarted operator found the Job: no second create


def test_several_workers_train_through_an_mpijob(tmp_path: Path) -> None:
    with EmulatorThread() as emu:
        install_crd(emu)
        emu.client.create(MPIJOB_CRD, "customresourcedefinitions")
        dm = dialog_model("wide", namespace=NS, task="reranking", training={"workers": 3, "gpusPerWorker": 4, "steps": 100})
        version = model_version(DialogModelSpec.model_validate(dm["spec"]))
        with running_operator(emu, tmp_path):
            emu.client.create(dm, "dialogmodels")
            mpi = wait_for(lambda: emu.client.get("kubeflow.org/v2beta1", "mpijobs", NS, names.training_job("wide", version)),
                           "the MPIJob")
            assert not jobs(emu, NS, "wide", "train")
            spec = mpi["spec"]
            assert spec["slotsPerWorker"] == 4 and spec["launcherCreationPolicy"] == "WaitForWorkersReady"
            assert spec["mpiReplicaSpecs"]["Worker"]["replicas"] == 3
            launcher = spec["mpiReplicaSpecs"]["Launcher"]["template"]
            assert launcher["spec"]["containers"][0]["command"] == [
                "mpirun", "-np", "12", "--allow-run-as-root", "-bind-to", "none", "-map-by", "slot",
                "-x", "NCCL_DEBUG=INFO", "-x", "LD_LIBRARY_PATH", "-x", "PATH",
                "rejoinder", "train", "-f", "/etc/rejoinder/dialogmodel.yaml"]
            worker = spec["mpiReplicaSpecs"]["Worker"]["template"]["spec"]["containers"][0]
            assert worker["resources"]["limits"]["nvidia.com/gpu"] == 4
            # workers come up one by one: the status says so
            emu.client.patch_status("kubeflow.org/v2beta1", "mpijobs", NS, mpi["metadata"]["name"], {
                "conditions": [{"type": "Created", "status": "True"}], "replicaStatuses": {"Worker": {"active": 2}}})
            wait_for(lambda: condition(status_of(emu, NS, "wide"), "Trained").get("reason") == "WaitingForWorkers",
                     "WaitingForWorkers")
            assert "2 of 3 workers" in status_of(emu, NS, "wide")["message"]
            # the launcher runs: progress comes from its log (rank 0)
            pod = create_pod(emu, NS, launcher, mpi["metadata"]["name"] + "-launcher",
                             extra_labels={"training.kubeflow.org/job-role": "launcher"},
                             log="REJOINDER_PROGRESS step=30 total=100 loss=0.9 examples_per_sec=4000\n")
            emu.client.patch_status("kubeflow.org/v2beta1", "mpijobs", NS, mpi["metadata"]["name"], {
                "conditions": [{"type": "Created", "status": "True"}, {"type": "Running", "status": "True"}]})
            wait_for(lambda: status_of(emu, NS, "wide").get("training", {}).get("step") == 30, "step 30 from the launcher")
            set_log(emu, pod, 'REJOINDER_METRICS {"accuracy": 0.81, "roc_auc": 0.88}\n')
            emu.client.patch_status("kubeflow.org/v2beta1", "mpijobs", NS, mpi["metadata"]["name"], {
                "conditions": [{"type": "Running", "status": "False"}, {"type": "Succeeded", "status": "True"}]})
            status = wait_for(lambda: (s := status_of(emu, NS, "wide")).get("trainedVersion") == version and s, "trained")
            assert status["metrics"] == {"accuracy": 0.81, "roc_auc": 0.88}
            # reranking has no index: straight to the Deployment
            wait_for(lambda: emu.client.get("apps/v1", "deployments", NS, names.server("wide")), "the Deployment")
            assert not jobs(emu, NS, "wide", "index")


class FakePrometheus:
    """Answers instant queries with one value, and remembers the queries."""

    def __init__(self, value: float):
        self.value, self.queries = value, []
        self.server = local_http_server(self.answer)
        self.url = f"http://127.0.0.1:{self.server.server_port}"

    def answer(self, path: str) -> tuple[str, str]:
        self.queries.append(urllib.parse.parse_qs(urllib.parse.urlparse(path).query)["query"][0])
        return "application/json", json.dumps({"status": "success", "data": {"resultType": "vector", "result": [
            {"metric": {}, "value": [time.time(), str(self.value)]}]}})


def test_autoscaling_from_a_prometheus_query(tmp_path: Path) -> None:
    prometheus = FakePrometheus(75.0)
    try:
        with EmulatorThread() as emu:
            install_crd(emu)
            dm = dialog_model("promo", namespace=NS, task="reranking",
                              serving={"minReplicas": 2, "maxReplicas": 6, "targetRpsPerReplica": 10})
            with running_operator(emu, tmp_path, fast_settings(prometheus_url=prometheus.url)):
                emu.client.create(dm, "dialogmodels")
                job = wait_for(lambda: jobs(emu, NS, "promo", "train"), "the training Job")[0]
                start_job(emu, job, log='REJOINDER_METRICS {"accuracy": 0.8}\n')
                finish_job(emu, job)
                wait_for(lambda: emu.client.get("apps/v1", "deployments", NS, names.server("promo")), "the Deployment")
                rollout(emu, NS, "promo")
                # 75 requests/s at 10 per replica → 8, capped at maxReplicas 6 (from 2: within the HPA's +4 per 15 s)
                wait_for(lambda: emu.client.get("apps/v1", "deployments", NS, names.server("promo"))["spec"]["replicas"] == 6,
                         "scale-up from the Prometheus query")
                wait_for(lambda: status_of(emu, NS, "promo").get("rps") == 75.0, "status.rps")
        assert f'namespace="{NS}"' in prometheus.queries[-1] and 'rejoinder_dev_model="promo"' in prometheus.queries[-1]
    finally:
        prometheus.server.shutdown()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _http(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status, response.read().decode()
    except OSError:
        return 0, ""


def test_rejoinder_operator_command_runs_with_health_and_metrics(tmp_path: Path) -> None:
    with EmulatorThread() as emu:
        install_crd(emu)
        for namespace in (NS, "other"):  # kopf follows namespaces: the watched one must exist
            emu.client.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}, "namespaces")
        kubeconfig = emu.write_kubeconfig(tmp_path / "kubeconfig")
        health, metrics = _free_port(), _free_port()
        env = {**os.environ, "KUBECONFIG": str(kubeconfig), "REJOINDER_RESYNC_SECONDS": "1",
               "REJOINDER_HEALTH_PORT": str(health), "REJOINDER_METRICS_PORT": str(metrics),
               "REJOINDER_TRAINER_IMAGE": "registry.example/trainer:7", "REJOINDER_WATCH_NAMESPACES": NS}
        proc = subprocess.Popen([sys.executable, "-m", "rejoinder", "operator"], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            wait_for(lambda: _http(f"http://127.0.0.1:{health}/healthz")[0] == 200, "the liveness endpoint", timeout=60)
            emu.client.create(dialog_model("cli", namespace=NS), "dialogmodels")
            emu.client.create(dialog_model("elsewhere", namespace="other"), "dialogmodels")
            job = wait_for(lambda: jobs(emu, NS, "cli", "train"), "the training Job", timeout=30)[0]
            assert job["spec"]["template"]["spec"]["containers"][0]["image"] == "registry.example/trainer:7"
            body = wait_for(lambda: (t := _http(f"http://127.0.0.1:{metrics}/metrics")[1]) and
                            'rejoinder_operator_reconciles_total{result="ok"}' in t and t, "operator metrics")
            assert 'rejoinder_operator_dialogmodels{phase="Training"} 1.0' in body
            assert not jobs(emu, "other", "elsewhere", "train")  # not a watched namespace
            assert emu.client.get(API, "dialogmodels", "other", "elsewhere").get("status") is None  # type: ignore[union-attr]
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                out, _ = proc.communicate(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                out, _ = proc.communicate()
        assert proc.returncode == 0, out[-3000:]
