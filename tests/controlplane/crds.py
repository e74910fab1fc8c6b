"""Installing CustomResourceDefinitions: a real apiserver serves a CRD only once its Established
condition is True, which happens asynchronously after the create."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Iterable

import yaml
from kubernetes import client
from kubernetes.client.rest import ApiException

from .kube import raw


def load(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def established(crd: dict[str, Any]) -> bool:
    conditions = (crd.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions)


def install(api: client.ApiClient, docs: Iterable[dict[str, Any]], timeout: float = 60.0) -> list[str]:
    """Create (or replace) the CRDs and wait until all are Established; their names."""
    ext = client.ApiextensionsV1Api(api)
    names = []
    for doc in docs:
        name = doc["metadata"]["name"]
        try:
            raw(ext.create_custom_resource_definition, body=doc)
        except ApiException as err:
            if err.status != 409:
                raise
            current = raw(ext.read_custom_resource_definition, name)
            body = {**doc, "metadata": {**doc["metadata"], "resourceVersion": current["metadata"]["resourceVersion"]}}
            raw(ext.replace_custom_resource_definition, name, body=body)
        names.append(name)
    deadline = time.monotonic() + timeout
    for name in names:
        while not established(raw(ext.read_custom_resource_definition, name)):
            if time.monotonic() > deadline:
                raise TimeoutError(f"CRD {name} not Established after {timeout:.0f} s")
            time.sleep(0.2)
    return names
