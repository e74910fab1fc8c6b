"""Acting as a ServiceAccount: a token from the TokenRequest API (signed with the control
plane's service-account key, as the kubelet would mount it), written into a kubeconfig."""

from __future__ import annotations

from pathlib import Path

from kubernetes import client

from . import kubeconfig
from .kube import raw


def token(api: client.ApiClient, namespace: str, service_account: str, seconds: int = 3600) -> str:
    body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
            "spec": {"expirationSeconds": seconds}}
    answer = raw(client.CoreV1Api(api).create_namespaced_service_account_token, service_account, namespace, body)
    return str(answer["status"]["token"])


def service_account_kubeconfig(api: client.ApiClient, server: str, ca: Path, path: Path, namespace: str,
                               service_account: str, seconds: int = 3600) -> Path:
    """A kubeconfig at `path` that authenticates as system:serviceaccount:<namespace>:<name>."""
    return kubeconfig.write(path, server, ca, user=f"{namespace}-{service_account}",
                            token=token(api, namespace, service_account, seconds), namespace=namespace)
