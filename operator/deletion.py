"""A DialogModel's deletion: its children go at once (owner references let the garbage collector
do the same, later), and a cleanup Job removes its artifacts unless storage.keepOnDelete."""

from __future__ import annotations

import logging
from typing import Any, Mapping

import kopf
from pydantic import ValidationError

from . import child_kinds, children, names
from .child_kinds import CHILD_KINDS, Cleanup, ChildKind
from .children import ParsedDialogModel
from .indexes import model_children
from .kube import KubeError, namespace_terminating, path_for
from .runtime import OperatorRuntime

log = logging.getLogger(__name__)


async def _children(rt: OperatorRuntime, kind: ChildKind, namespace: str, name: str,
                    indexes: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A model's children of one kind: from kopf's index, else (not watched) from the API server."""
    assert rt.kube is not None
    if kind.index is not None:
        return model_children(indexes, kind, (namespace, name))
    if kind.optional_api and not await rt.served(kind):
        return []
    return await rt.kube.list(path_for(kind.api_version, kind.plural, namespace), f"{names.LABEL_MODEL}={name}")


async def delete_children(rt: OperatorRuntime, body: Mapping[str, Any], indexes: Mapping[str, Any]) -> None:
    kube = rt.kube
    assert kube is not None
    meta = body["metadata"]
    for kind in CHILD_KINDS:
        if kind.cleanup != Cleanup.DELETE:
            continue
        for obj in await _children(rt, kind, meta["namespace"], meta["name"], indexes):
            if (obj["metadata"].get("labels") or {}).get(names.LABEL_COMPONENT) == names.COMPONENT_CLEANUP:
                continue  # the Job that removes the artifacts, started by an earlier attempt
            await kube.delete(path_for(kind.api_version, kind.plural, meta["namespace"], obj["metadata"]["name"]))
    try:
        model = ParsedDialogModel.from_body(body)
    except ValidationError:
        return
    job = children.cleanup_job(model, rt.settings)
    if job is not None:
        try:
            await kube.create(path_for(job["apiVersion"], child_kinds.plural(job["kind"]), model.namespace), job)
        except KubeError as error:
            if not namespace_terminating(error):
                raise
            # Nothing new can be created in a namespace being deleted: retrying would hold the
            # finalizer (and the namespace) forever. The artifacts stay; say so.
            message = (f"artifacts under {model.spec.storage.path} on PVC {model.spec.storage.persistent_volume_claim} "
                       f"were not removed: namespace {model.namespace} is being deleted ({error.message})")
            log.warning("%s/%s: %s", model.namespace, model.name, message)
            kopf.event(dict(body), type="Warning", reason="CleanupSkipped", message=message[:1000])
            return
        log.info("%s/%s: artifacts are removed by Job %s (storage.keepOnDelete is false)",
                 model.namespace, model.name, job["metadata"]["name"])
