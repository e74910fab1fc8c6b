"""The operator's login with a bearer token, loaded by the installed `kubernetes` client from a
pod's mounted ServiceAccount (how the chart runs it) and from a kubeconfig. With kubernetes ≥ 36
the token sits in the `BearerToken` api_key slot: reading only `authorization` (as the operator
once did) loses it, and kopf then calls the apiserver anonymously. The real apiserver's answer to
these credentials is in tests/realcluster/test_realcluster_operator_login.py."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from rejoinder.operator.handlers import connection_info
from rejoinder.operator.kube import Credentials, Kube

TOKEN = "eyJhbGciOiJFUzI1NiJ9.test-token.signature"


def service_account_dir(tmp_path: Path, token: str = TOKEN) -> Path:
    """What the kubelet mounts at /var/run/secrets/kubernetes.io/serviceaccount."""
    mounted = tmp_path / "serviceaccount"
    mounted.mkdir()
    (mounted / "token").write_text(token)
    (mounted / "ca.crt").write_text("-----BEGIN CERTIFICATE-----\n(not parsed by the loader)\n")
    (mounted / "namespace").write_text("rejoinder-system\n")
    return mounted


def test_in_a_pod_the_mounted_token_is_the_login(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    mounted = service_account_dir(tmp_path)
    creds = Credentials.load(mounted)
    assert (creds.server, creds.token, creds.namespace) == ("https://10.0.0.1:443", TOKEN, "rejoinder-system")
    assert creds.ca_file == str(mounted / "ca.crt") and creds.token_file == str(mounted / "token")
    info = connection_info(creds)
    assert (info.token, info.default_namespace) == (TOKEN, "rejoinder-system")


def test_the_operators_client_reads_the_rotated_token(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    mounted = service_account_dir(tmp_path)
    kube = Kube(Credentials.load(mounted))
    assert kube._headers() == {"Authorization": f"Bearer {TOKEN}"}
    (mounted / "token").write_text("rotated")  # the kubelet refreshes projected tokens in place
    assert kube._headers() == {"Authorization": "Bearer rotated"}


def test_a_kubeconfig_token_is_the_login(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "k", "cluster": {"server": "https://127.0.0.1:6443", "insecure-skip-tls-verify": True}}],
        "users": [{"name": "u", "user": {"token": TOKEN}}],
        "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u"}}]}))
    monkeypatch.setenv("KUBECONFIG", str(path))
    creds = Credentials.load(tmp_path / "no-such-mount")
    assert (creds.server, creds.token, creds.token_file) == ("https://127.0.0.1:6443", TOKEN, None)
    assert connection_info(creds).token == TOKEN
    assert Kube(creds)._headers() == {"Authorization": f"Bearer {TOKEN}"}
