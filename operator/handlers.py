"""The kopf layer: every decorator in one place, each handing off to reconcile.py, autoscaling.py
or deletion.py.

`build_registry(settings)` returns a fresh kopf registry, so the CLI and each test run an
operator with their own settings (timer intervals are fixed when handlers are registered).

Children are watched through kopf indexes (one label-selected watch per kind of child_kinds.py,
no polling of the API server); each DialogModel is reconciled on create/resume/spec change, on a
child's change and on a resync timer, and a second timer does RPS autoscaling.
"""

from __future__ import annotations

import logging
from typing import Any, Mapping, Optional

import kopf

from rejoinder.api.spec import GROUP, PLURAL, VERSION

from . import autoscaling, child_kinds, deletion, names
from . import metrics as op_metrics
from .indexes import model_key, snapshot
from .kube import Credentials
from .reconcile import reconcile
from .runtime import OperatorRuntime
from .settings import OperatorSettings

log = logging.getLogger(__name__)

MANAGED = {names.LABEL_MANAGED_BY: names.MANAGED_BY}
FINALIZER = f"{GROUP}/finalizer"
# Kinds whose watches carry the operator's label selector: the apiserver sends only the operator's
# own objects (not every Pod and ConfigMap of the cluster). bench/bench_operator_scoping.py
# empties it to measure what that saves.
LABEL_SELECTED: tuple[child_kinds.ChildKind, ...] = child_kinds.INDEXED


def _configure(settings: kopf.OperatorSettings) -> None:
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=GROUP, key="last-handled-configuration")
    settings.persistence.finalizer = FINALIZER
    settings.background.cancellation_polling = 1  # deletion must not wait a minute for a timer
    settings.posting.level = logging.WARNING
    settings.posting.reporting_component = "rejoinder-operator"
    settings.peering.standalone = True  # one replica (the chart uses strategy Recreate)
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.watching.connect_timeout = 10
    settings.batching.error_delays = (1, 2, 5, 10, 30, 60)
    settings.watching.chunk_size = 500  # initial lists in pages: no 100 MB answer in a big cluster
    for kind in LABEL_SELECTED:
        settings.watching.label_selectors[kind.group, kind.version, kind.plural] = \
            f"{names.LABEL_MANAGED_BY}={names.MANAGED_BY}"


def connection_info(creds: Credentials) -> kopf.ConnectionInfo:
    """kopf's login: the same server and user as the operator's own client (kube.py)."""
    return kopf.ConnectionInfo(server=creds.server, token=creds.token, ca_path=creds.ca_file,
                               certificate_path=creds.cert_file, private_key_path=creds.key_file,
                               insecure=not creds.verify, default_namespace=creds.namespace)


def _indexes_of(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    return {kind.index: kwargs[kind.index] for kind in child_kinds.INDEXED if kind.index}


def build_registry(settings: OperatorSettings) -> tuple[kopf.OperatorRegistry, OperatorRuntime]:
    registry = kopf.OperatorRegistry()
    rt = OperatorRuntime(settings)
    resource = (GROUP, VERSION, PLURAL)

    @kopf.on.startup(registry=registry)
    async def startup(settings: kopf.OperatorSettings, **_: Any) -> None:
        _configure(settings)
        await rt.start()
        log.info("rejoinder operator started: trainer image %s, model-server image %s, namespaces %s, "
                 "resync %ss, autoscale %ss, RPS from %s", rt.settings.trainer_image, rt.settings.model_server_image,
                 ",".join(rt.settings.namespaces) or "all", rt.settings.resync_seconds, rt.settings.autoscale_seconds,
                 rt.settings.prometheus_url or "pod metrics endpoints")

    @kopf.on.cleanup(registry=registry)
    async def cleanup(**_: Any) -> None:
        await rt.stop()

    @kopf.on.login(registry=registry)
    def login(**_: Any) -> kopf.ConnectionInfo:
        return connection_info(Credentials.load())

    def child_index(kind: child_kinds.ChildKind) -> None:
        # async: sync handlers would go through kopf's small thread pool, one hop per watch event
        async def index(namespace: Optional[str], labels: Mapping[str, str], body: Mapping[str, Any], **_: Any) -> Any:
            key = model_key(namespace, labels)
            return {key: snapshot(body)} if key else None

        assert kind.index is not None
        index.__name__ = kind.index
        kopf.index(kind.group, kind.version, kind.plural, labels=MANAGED, registry=registry, id=kind.index)(index)

    for kind in child_kinds.INDEXED:
        child_index(kind)

    @kopf.index(*resource, registry=registry, id="rejoinder_models")
    async def rejoinder_models(namespace: str, name: str, status: Mapping[str, Any], **_: Any) -> Any:
        return {(namespace, name): (status or {}).get("trainedVersion")}

    @kopf.index(*resource, registry=registry, id="rejoinder_model_bodies")
    async def rejoinder_model_bodies(namespace: str, name: str, body: kopf.Body, **_: Any) -> Any:
        return {(namespace, name): snapshot(body)}

    @kopf.on.resume(*resource, registry=registry, backoff=5)
    @kopf.on.create(*resource, registry=registry, backoff=5)
    @kopf.on.update(*resource, field="spec", registry=registry, backoff=5)
    async def changed(body: kopf.Body, memo: kopf.Memo, **kwargs: Any) -> None:
        await reconcile(rt, body, _indexes_of(kwargs), kwargs["rejoinder_models"])

    async def child_changed(namespace: Optional[str], labels: Mapping[str, str], **kwargs: Any) -> None:
        """A child's status moved (Job finished, pods ready...): reconcile its model now, not at the next resync."""
        key = model_key(namespace, labels)
        bodies = kwargs["rejoinder_model_bodies"]
        if key is None or key not in bodies:
            return

        async def run() -> None:
            current = next(iter(bodies.get(key, ())), None) if key in bodies else None
            if current is not None and not current["metadata"].get("deletionTimestamp"):
                await reconcile(rt, current, _indexes_of(kwargs), kwargs["rejoinder_models"])

        try:
            await rt.coalesce(key, run)
        except kopf.TemporaryError as error:  # the resync timer retries; events must not pile up retries
            log.info("%s/%s: reconciliation after a child event failed: %s", key[0], key[1], error)

    for kind in child_kinds.CHILD_KINDS:
        if kind.reconcile_on_change:
            kopf.on.event(kind.group, kind.version, kind.plural, labels=MANAGED, registry=registry,
                          id=f"child-{kind.plural}")(child_changed)

    @kopf.timer(*resource, interval=settings.resync_seconds, initial_delay=settings.resync_seconds, registry=registry)
    async def resync(body: kopf.Body, memo: kopf.Memo, **kwargs: Any) -> None:
        await reconcile(rt, body, _indexes_of(kwargs), kwargs["rejoinder_models"])

    @kopf.timer(*resource, interval=settings.autoscale_seconds, initial_delay=settings.autoscale_seconds,
                registry=registry)
    async def scale(body: kopf.Body, memo: kopf.Memo, **kwargs: Any) -> None:
        await autoscaling.autoscale(rt, body, memo, _indexes_of(kwargs))

    @kopf.on.delete(*resource, registry=registry, backoff=2)
    async def deleted(body: kopf.Body, **kwargs: Any) -> None:
        await deletion.delete_children(rt, body, _indexes_of(kwargs))
        key = (body["metadata"]["namespace"], body["metadata"]["name"])
        op_metrics.PHASES.forget(key)
        rt.forget(key)

    @kopf.on.probe(id="dialogmodels", registry=registry)
    def probe(**_: Any) -> int:
        return op_metrics.PHASES.count()

    return registry, rt
