"""The operator logs in with a ServiceAccount's bearer token, as the chart runs it (the token the
kubelet mounts in its pod) and from a kubeconfig: the real apiserver must see that user, not
system:anonymous. Found with the real apiserver (the emulator checks no authentication): with the
installed `kubernetes` client (≥ 36) the operator read no token and went anonymous."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from kubernetes import client

from rejoinder.operator.handlers import connection_info
from rejoinder.operator.kube import Credentials, Kube
from tests.controlplane import tokens
from tests.controlplane.cluster import ControlPlane
from tests.controlplane.kube import raw

pytestmark = pytest.mark.realcluster
SELF_REVIEW = "/apis/authentication.k8s.io/v1/selfsubjectreviews"


def who_am_i(creds: Credentials) -> str:
    """The user the apiserver authenticates the operator's own client as (anonymous: 403)."""
    async def ask() -> str:
        kube = Kube(creds)
        try:
            review = await kube.create(SELF_REVIEW, {"apiVersion": "authentication.k8s.io/v1",
                                                     "kind": "SelfSubjectReview"})
        finally:
            await kube.close()
        assert review is not None
        return str(review["status"]["userInfo"]["username"])
    return asyncio.run(ask())


@pytest.fixture
def operator_account(control_plane: ControlPlane, namespace: str) -> str:
    raw(client.CoreV1Api(control_plane.api()).create_namespaced_service_account, namespace,
        {"metadata": {"name": "operator"}})
    return f"system:serviceaccount:{namespace}:operator"


def test_in_a_pod_the_mounted_token_logs_in(control_plane: ControlPlane, namespace: str, operator_account: str,
                                            tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mounted = tmp_path / "serviceaccount"  # what the kubelet mounts at /var/run/secrets/kubernetes.io/serviceaccount
    mounted.mkdir()
    token = tokens.token(control_plane.api(), namespace, "operator")
    (mounted / "token").write_text(token)
    (mounted / "ca.crt").write_bytes(control_plane.ca.cert.read_bytes())
    (mounted / "namespace").write_text(namespace)
    # the `kubernetes` Service's address, as the kubelet puts it in every pod's environment
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", str(control_plane.ports.apiserver))
    creds = Credentials.load(mounted)
    assert creds.namespace == namespace
    assert connection_info(creds).token == token  # kopf's login (the operator's client re-reads the file)
    assert who_am_i(creds) == operator_account


def test_a_kubeconfig_token_logs_in(control_plane: ControlPlane, namespace: str, operator_account: str,
                                    tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    kubeconfig = tokens.service_account_kubeconfig(control_plane.api(), control_plane.server, control_plane.ca.cert,
                                                   tmp_path / "operator.kubeconfig", namespace, "operator")
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    creds = Credentials.load(tmp_path / "not-in-a-pod")
    assert connection_info(creds).token == creds.token  # kopf's login and the operator's client alike
    assert who_am_i(creds) == operator_account
