"""The operator image reconciles against the test API emulator (tests/k8s_emulator) over the host
network, as the chart's Deployment runs it (`rejoinder operator`, read-only root, uid 10001,
the kubeconfig mounted read-only): a new DialogModel gets its first child, the training Job
with the trainer image; /healthz answers; SIGTERM stops kopf and the container exits 0."""

from __future__ import annotations

import os
import urllib.request

import pytest
from k8s_emulator import EmulatorThread

from images_support import Container, image_ref
from tests.modelserver.conftest import free_port
from tests.operator.operator_e2e import dialog_model, install_crd, jobs, wait_for

pytestmark = [pytest.mark.images, pytest.mark.slow]


def healthz(port: int) -> int | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as reply:
            return reply.status
    except OSError:
        return None


def test_operator_image_reconciles_a_dialog_model_to_its_first_child(images, tmp_path):
    health_port, metrics_port = free_port(), free_port()
    with EmulatorThread() as emu:
        install_crd(emu)
        kube = tmp_path / "kube"
        kube.mkdir()
        emu.write_kubeconfig(kube / "config")
        os.chmod(kube, 0o755)
        os.chmod(kube / "config", 0o644)
        operator = Container.start(
            images["operator"], ["--log-level=INFO", "operator", "--health-port", str(health_port),
                                 "--metrics-port", str(metrics_port), "--resync-seconds", "1"],
            tmp_path / "operator.log", volumes=[(kube, "/etc/rejoinder-kube", "ro")],
            env={"KUBECONFIG": "/etc/rejoinder-kube/config", "POD_NAMESPACE": "rejoinder-system"},
        )
        try:
            wait_for(lambda: not operator.running() or healthz(health_port) == 200, "the operator's /healthz", timeout=300)
            assert operator.running(), operator.logs()
            emu.client.create(dialog_model("img"), "dialogmodels")
            job = wait_for(lambda: jobs(emu, "default", "img", "train") or not operator.running() and ["exited"],
                           "the training Job", timeout=300)
            assert job != ["exited"], operator.logs()
            containers = job[0]["spec"]["template"]["spec"]["containers"]
            assert containers[0]["image"] == image_ref("trainer"), containers[0]["image"]
            assert healthz(health_port) == 200
            assert operator.terminate(timeout=120) == 0, operator.logs()
        finally:
            operator.close()
