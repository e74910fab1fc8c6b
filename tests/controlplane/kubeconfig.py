"""Kubeconfig files for the control plane's users: client certificates or bearer tokens."""

from __future__ import annotations

from pathlib import Path

import yaml


def write(path: Path, server: str, ca: Path, *, user: str, cert: Path | None = None,
          key: Path | None = None, token: str | None = None, namespace: str | None = None) -> Path:
    """A kubeconfig with one cluster, one user and one current context."""
    credentials: dict[str, str] = {}
    if cert is not None and key is not None:
        credentials = {"client-certificate": str(cert), "client-key": str(key)}
    if token is not None:
        credentials["token"] = token
    context: dict[str, str] = {"cluster": "rejoinder-test", "user": user}
    if namespace:
        context["namespace"] = namespace
    config = {
        "apiVersion": "v1", "kind": "Config", "current-context": "rejoinder-test",
        "clusters": [{"name": "rejoinder-test", "cluster": {"server": server, "certificate-authority": str(ca)}}],
        "users": [{"name": user, "user": credentials}],
        "contexts": [{"name": "rejoinder-test", "context": context}],
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    path.chmod(0o600)  # it holds a key path or a token
    return path
