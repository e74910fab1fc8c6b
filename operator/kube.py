"""A small asynchronous Kubernetes REST client for the operator's writes and log reads.

Credentials come from the `kubernetes` package's loaders (in-cluster service account, else the
kubeconfig in $KUBECONFIG or ~/.kube/config), so kopf (handlers.py, on.login) and this client
talk to the same server as the same user.
"""

from __future__ import annotations

import json
import os
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import aiohttp

from rejoinder import __version__

USER_AGENT = f"rejoinder-operator/{__version__}"


class KubeError(Exception):
    def __init__(self, status: int, reason: str, message: str):
        super().__init__(f"{status} {reason}: {message}")
        self.status, self.reason, self.message = status, reason, message


def namespace_terminating(error: KubeError) -> bool:
    """The NamespaceLifecycle admission's answer to a create in a namespace being deleted."""
    return error.status == 403 and "being terminated" in error.message


# Where the kubelet mounts a pod's ServiceAccount token, CA and namespace (tests point it elsewhere).
SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")


def bearer_token(cfg: Any) -> Optional[str]:
    """The bearer token a `kubernetes.client.Configuration` holds, without its scheme.

    The client keeps it under the `BearerToken` api_key slot since kubernetes 36.0.1
    (kubernetes-client/python#2585), under `authorization` before; in-cluster loading writes
    "bearer <token>", kubeconfig loading "Bearer <token>". Reading only `authorization` gives None
    with today's client, and the operator then talks to the apiserver anonymously."""
    auth = (cfg.get_api_key_with_prefix("BearerToken") or cfg.get_api_key_with_prefix("authorization") or "").strip()
    return (auth.split(" ", 1)[1] if auth.lower().startswith("bearer ") else auth).strip() or None


@dataclass(frozen=True)
class Credentials:
    server: str
    token: Optional[str] = None
    ca_file: Optional[str] = None
    cert_file: Optional[str] = None
    key_file: Optional[str] = None
    verify: bool = True
    namespace: Optional[str] = None
    token_file: Optional[str] = None  # in a pod: the projected token, re-read as it rotates

    @classmethod
    def load(cls, service_account_dir: Path | None = None) -> "Credentials":
        """In a pod (KUBERNETES_SERVICE_HOST set and a mounted token), its ServiceAccount; else
        the first kubeconfig of $KUBECONFIG, or ~/.kube/config."""
        from kubernetes import client, config
        from kubernetes.config.incluster_config import InClusterConfigLoader

        sa_dir = service_account_dir or SERVICE_ACCOUNT_DIR
        cfg = client.Configuration()
        try:
            InClusterConfigLoader(token_filename=str(sa_dir / "token"),
                                  cert_filename=str(sa_dir / "ca.crt")).load_and_set(client_configuration=cfg)
            in_cluster = True
        except config.ConfigException:
            path = os.environ.get("KUBECONFIG") or os.path.expanduser("~/.kube/config")
            config.load_kube_config(config_file=path.split(os.pathsep)[0], client_configuration=cfg)
            in_cluster = False
        namespace = token_file = None
        if in_cluster:
            token_file = str(sa_dir / "token")
            ns_file = sa_dir / "namespace"
            namespace = ns_file.read_text().strip() if ns_file.exists() else None
        return cls(server=cfg.host.rstrip("/"), token=bearer_token(cfg), ca_file=cfg.ssl_ca_cert,
                   cert_file=cfg.cert_file, key_file=cfg.key_file, verify=cfg.verify_ssl, namespace=namespace,
                   token_file=token_file)

    def ssl_context(self) -> ssl.SSLContext | bool:
        if not self.server.startswith("https"):
            return False
        ctx = ssl.create_default_context(cafile=self.ca_file) if self.verify else ssl._create_unverified_context()
        if self.cert_file:
            ctx.load_cert_chain(self.cert_file, self.key_file)
        return ctx


def encode_body(body: Any) -> str:
    """JSON for the apiserver, which answers 400 to NaN and Infinity: refuse them here, loudly."""
    return json.dumps(body, allow_nan=False)


def path_for(api_version: str, plural: str, namespace: Optional[str] = None, name: Optional[str] = None,
             subresource: Optional[str] = None) -> str:
    parts = ["/api/v1" if api_version == "v1" else f"/apis/{api_version}"]
    if namespace:
        parts.append(f"namespaces/{namespace}")
    parts.append(plural)
    if name:
        parts.append(name)
    if subresource:
        parts.append(subresource)
    return "/".join(parts)


class Kube:
    def __init__(self, credentials: Credentials):
        self.credentials = credentials
        self._session: Optional[aiohttp.ClientSession] = None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _headers(self) -> dict[str, str]:
        token = self.credentials.token
        token_file = self.credentials.token_file
        if token_file and os.path.exists(token_file):
            with open(token_file) as f:  # projected tokens rotate: read the current one
                token = f.read().strip() or token
        return {"Authorization": f"Bearer {token}"} if token else {}

    async def _request(self, method: str, path: str, body: Any = None, params: Optional[dict[str, str]] = None,
                       content_type: str = "application/json", text: bool = False) -> Any:
        if self._session is None:
            connector = aiohttp.TCPConnector(ssl=self.credentials.ssl_context(), limit=50)
            self._session = aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=30))
        headers = {**self._headers(), "Content-Type": content_type, "Accept": "application/json",
                   "User-Agent": USER_AGENT}
        data = encode_body(body) if body is not None else None
        async with self._session.request(method, self.credentials.server + path, data=data, params=params,
                                         headers=headers) as response:
            raw = await response.text()
            if response.status >= 400:
                try:
                    payload = json.loads(raw)
                except ValueError:
                    payload = {"message": raw}
                raise KubeError(response.status, str(payload.get("reason", "")), str(payload.get("message", raw))[:2000])
            if text:
                return raw
            return json.loads(raw) if raw else None

    async def get(self, path: str) -> Optional[dict[str, Any]]:
        try:
            return await self._request("GET", path)
        except KubeError as error:
            if error.status == 404:
                return None
            raise

    async def list(self, path: str, label_selector: Optional[str] = None) -> list[dict[str, Any]]:
        params = {"labelSelector": label_selector} if label_selector else None
        return (await self._request("GET", path, params=params) or {}).get("items") or []

    async def create(self, path: str, obj: dict[str, Any]) -> Optional[dict[str, Any]]:
        """Create; None when it exists already (names are deterministic, so that is the same object)."""
        try:
            return await self._request("POST", path, obj)
        except KubeError as error:
            if error.status == 409 and error.reason == "AlreadyExists":
                return None
            raise

    async def merge_patch(self, path: str, patch: dict[str, Any]) -> Optional[dict[str, Any]]:
        try:
            return await self._request("PATCH", path, patch, content_type="application/merge-patch+json")
        except KubeError as error:
            if error.status == 404:
                return None
            raise

    async def delete(self, path: str) -> bool:
        """Delete (dependents in the background); False when it was gone already."""
        try:
            await self._request("DELETE", path, {"kind": "DeleteOptions", "apiVersion": "v1",
                                                 "propagationPolicy": "Background"})
            return True
        except KubeError as error:
            if error.status == 404:
                return False
            raise

    async def log(self, namespace: str, pod: str, tail_lines: int) -> Optional[str]:
        params = {"tailLines": str(tail_lines)}
        try:
            return await self._request("GET", path_for("v1", "pods", namespace, pod, "log"), params=params, text=True)
        except KubeError as error:
            if error.status in (400, 404):  # not started yet, or gone
                return None
            raise

    async def served(self, api_version: str, plural: str) -> bool:
        """Whether the API server serves a resource (e.g. whether the MPIJob CRD is installed)."""
        doc = await self.get("/api/v1" if api_version == "v1" else f"/apis/{api_version}")
        return bool(doc) and any(r.get("name") == plural for r in doc.get("resources") or [])
