"""Pod logs go through the apiserver (pods/log) to kwok's kubelet API, which serves a file the
test writes: the operator reads training progress this way."""

from __future__ import annotations

import pytest
from kubernetes import client

from tests.controlplane import kwok
from tests.controlplane.cluster import ControlPlane
from tests.controlplane.kube import raw
from tests.realcluster.cluster_support import condition, container, wait_object

pytestmark = pytest.mark.realcluster


def test_pod_logs_come_from_the_file_the_test_wrote(control_plane: ControlPlane, namespace: str) -> None:
    api = control_plane.api()
    core = client.CoreV1Api(api)
    text = "REJOINDER_PROGRESS step=1/10 loss=0.5\nsecond line\n"
    with kwok.pod_logs(api, namespace, control_plane.workdir / f"{namespace}.log", text) as log:
        raw(core.create_namespaced_pod, namespace, {"metadata": {"name": "talker"},
                                                    "spec": {"containers": [container()]}})
        wait_object("pod ready", lambda: raw(core.read_namespaced_pod, "talker", namespace),
                    lambda p: condition(p, "Ready") == "True")
        assert core.read_namespaced_pod_log("talker", namespace, container="main") == text
        assert core.read_namespaced_pod_log("talker", namespace, container="main", tail_lines=1) == "second line\n"
        kwok.write_log(log, "replaced\n")  # read afresh on every request
        assert core.read_namespaced_pod_log("talker", namespace, container="main") == "replaced\n"
