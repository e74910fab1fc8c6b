"""The kopf handlers: thin wrappers around observe → plan → apply.

`build_registry(settings)` returns a fresh kopf registry, so the CLI and each test run an
operator with their own settings (timer intervals are fixed when handlers are registered).

Children are watched through kopf indexes (one watch per kind, no polling of the API server);
each DialogModel is reconciled on create/resume/spec change and on a resync timer, and a second
timer does RPS autoscaling.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from datetime import datetime, timezone
from typing import Any, Mapping, Optional

import aiohttp
import kopf
from pydantic import ValidationError

from rejoinder.api.spec import GROUP, PLURAL, VERSION, DialogModelSpec, Task
from rejoinder.api.status import DialogModelStatus

from . import children, names, planner, rejections, scaler, scaling_objects, staleness
from . import metrics as op_metrics
from .children import Model
from .kube import Credentials, Kube, KubeError, namespace_terminating, path_for
from .planner import Observed, Plan
from .settings import OperatorSettings
from .workloads import pod_ready

log = logging.getLogger(__name__)

MANAGED = {names.LABEL_MANAGED_BY: names.MANAGED_BY}
# Children kopf lists and watches: with the label selector on the requests themselves, the apiserver
# sends only the operator's own objects (not every Pod and ConfigMap of the cluster).
CHILD_RESOURCES = (("", "v1", "configmaps"), ("batch", "v1", "jobs"), ("apps", "v1", "deployments"),
                   ("", "v1", "services"), ("policy", "v1", "poddisruptionbudgets"), ("", "v1", "pods"))
MPIJOB_API = "kubeflow.org/v2beta1"
FINALIZER = f"{GROUP}/finalizer"
_INDEXED = ("rejoinder_config_maps", "rejoinder_jobs", "rejoinder_deployments", "rejoinder_services",
            "rejoinder_pdbs", "rejoinder_pods")


class Runtime:
    """Process-wide state of a running operator: the API client and a cached discovery answer."""

    def __init__(self, settings: OperatorSettings):
        self.settings = settings
        self.kube: Optional[Kube] = None
        self.http: Optional[aiohttp.ClientSession] = None
        self._served: dict[tuple[str, str], tuple[float, bool]] = {}
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}
        self._running: set[tuple[str, str]] = set()
        self._again: set[tuple[str, str]] = set()
        # The status this operator wrote last, by model: a body from a watch can lag behind it.
        self.written: dict[tuple[str, str], staleness.Written] = {}
        # Creates the apiserver refused, by model (see rejections.py).
        self.rejected: dict[tuple[str, str], dict[rejections.Key, rejections.Rejection]] = {}

    def newest_status(self, body: Mapping[str, Any]) -> dict[str, Any]:
        key = (body["metadata"]["namespace"], body["metadata"]["name"])
        status, ahead = staleness.newest_status(body, self.written.get(key))
        if not ahead:
            self.written.pop(key, None)
        return status

    def lock(self, key: tuple[str, str]) -> asyncio.Lock:
        """One reconciliation of a model at a time (change handlers, timers and child events)."""
        return self._locks.setdefault(key, asyncio.Lock())

    def forget(self, key: tuple[str, str]) -> None:
        self._locks.pop(key, None)
        self.rejected.pop(key, None)
        self.written.pop(key, None)

    async def coalesce(self, key: tuple[str, str], run: Any) -> None:
        """Run `run()` for a model; events arriving meanwhile cause one more run, not one each."""
        if key in self._running:
            self._again.add(key)
            return
        self._running.add(key)
        try:
            while True:
                self._again.discard(key)
                await run()
                if key not in self._again:
                    break
        finally:
            self._running.discard(key)

    async def start(self) -> None:
        self.kube = Kube(Credentials.load())
        self.http = aiohttp.ClientSession()

    async def stop(self) -> None:
        if self.kube is not None:
            await self.kube.close()
        if self.http is not None:
            await self.http.close()

    async def served(self, api_version: str, plural: str) -> bool:
        """Whether a (custom) resource is served, asked at most every 30 s."""
        checked_at, supported = self._served.get((api_version, plural), (0.0, False))
        if time.monotonic() - checked_at > 30:
            assert self.kube is not None
            supported = await self.kube.served(api_version, plural)
            self._served[(api_version, plural)] = (time.monotonic(), supported)
        return supported

    async def mpijob_supported(self) -> bool:
        return await self.served(MPIJOB_API, "mpijobs")


def _snapshot(body: Mapping[str, Any]) -> dict[str, Any]:
    return {k: body[k] for k in body}


def _model_key(namespace: Optional[str], labels: Mapping[str, str]) -> Optional[tuple[str, str]]:
    model = labels.get(names.LABEL_MODEL)
    return (namespace or "", model) if model else None


def _by_name(items: Any) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in items or ()}


def parse_model(body: Mapping[str, Any]) -> Model:
    meta = body["metadata"]
    return Model(name=meta["name"], namespace=meta["namespace"], uid=meta["uid"],
                 spec=DialogModelSpec.model_validate(dict(body.get("spec") or {})),
                 generation=int(meta.get("generation") or 1))


def _status(body: Mapping[str, Any]) -> DialogModelStatus:
    raw = dict(body.get("status") or {})
    try:
        return DialogModelStatus.model_validate({k: v for k, v in raw.items() if v is not None})
    except ValidationError:
        log.warning("unreadable status of %s; starting from an empty one", body["metadata"].get("name"))
        return DialogModelStatus()


def _choose_log_pod(pods: list[dict[str, Any]]) -> Optional[dict[str, Any]]:
    """The rank-0 pod: an MPIJob's launcher, else the newest pod (the Job's latest attempt)."""
    launchers = [p for p in pods if (p["metadata"].get("labels") or {}).get("training.kubeflow.org/job-role") == "launcher"]
    candidates = launchers or [p for p in pods if (p["metadata"].get("labels") or {}).get("training.kubeflow.org/job-role") != "worker"]
    if not candidates:
        return None
    return max(candidates, key=lambda p: p["metadata"].get("creationTimestamp") or "")


async def observe(rt: Runtime, model: Model, status: DialogModelStatus, indexes: Mapping[str, Any],
                  models_index: Any) -> Observed:
    key = (model.namespace, model.name)

    def get(index: str) -> list[dict[str, Any]]:
        store = indexes[index]
        return list(store.get(key, ())) if key in store else []

    kube, s = rt.kube, rt.settings
    assert kube is not None
    jobs = _by_name(get("rejoinder_jobs"))
    pods = get("rejoinder_pods")
    deployments = get("rejoinder_deployments")
    services = get("rejoinder_services")
    pdbs = get("rejoinder_pdbs")
    server = names.server(model.name)
    latest = planner.model_version(model.spec)
    supported = await rt.mpijob_supported()
    mpijobs: dict[str, dict[str, Any]] = {}
    if supported:
        mpijobs = _by_name(await kube.list(path_for(MPIJOB_API, "mpijobs", model.namespace),
                                           f"{names.LABEL_MODEL}={model.name}"))
    training_log = None
    if status.trained_version != latest:
        train_pods = [p for p in pods if (p["metadata"].get("labels") or {}).get(names.LABEL_COMPONENT) == names.COMPONENT_TRAIN
                      and (p["metadata"].get("labels") or {}).get(names.LABEL_VERSION) == latest]
        pod = _choose_log_pod(train_pods)
        if pod is not None:
            training_log = await kube.log(model.namespace, pod["metadata"]["name"], s.log_tail_lines)
    index_log = None
    index_job = jobs.get(names.index_job(model.name, planner.index_version(model.spec)))
    if index_job is not None and any(c.get("type") == "Failed" and c.get("status") == "True"
                                     for c in (index_job.get("status") or {}).get("conditions") or []):
        index_pods = [p for p in pods if (p["metadata"].get("labels") or {}).get(names.LABEL_COMPONENT) == names.COMPONENT_INDEX]
        pod = _choose_log_pod(index_pods)
        if pod is not None:
            index_log = await kube.log(model.namespace, pod["metadata"]["name"], s.log_tail_lines)
    # The HPA / ScaledObject named after the server: the engine's own, or one to remove after a switch.
    hpa = await kube.get(path_for(scaling_objects.HPA_API, "horizontalpodautoscalers", model.namespace, server))
    keda = await rt.served(scaling_objects.KEDA_API, "scaledobjects")
    scaled_object = await kube.get(path_for(scaling_objects.KEDA_API, "scaledobjects", model.namespace, server)) if keda else None

    def trained(name: Optional[str]) -> Optional[bool]:
        key = (model.namespace, name)
        return None if name is None else key in models_index and any(v for v in models_index[key])

    init = model.spec.model.init
    init_trained = trained(init.dialog_model if init is not None else None)
    return Observed(
        rejected=dict(rt.rejected.get(key, {})),
        config_maps=_by_name(get("rejoinder_config_maps")), jobs=jobs, mpijobs=mpijobs, mpijob_supported=supported,
        deployment=next((d for d in deployments if d["metadata"]["name"] == server), None),
        service=next((d for d in services if d["metadata"]["name"] == server), None),
        pdb=next((d for d in pdbs if d["metadata"]["name"] == server), None),
        pods=pods, training_log=training_log, index_log=index_log, init_model_trained=init_trained,
        negatives_model_trained=trained(model.spec.data.negatives_from),
        hpa=hpa, scaled_object=scaled_object, keda_supported=keda,
    )


def _plural(obj: Mapping[str, Any]) -> str:
    return planner.PLURALS[obj["kind"]]


async def create_children(rt: Runtime, model: Model, plan: Plan, now: datetime) -> bool:
    """Create the plan's new children; False when the apiserver refused one (it is remembered, so
    the next plan reports it as a condition instead of retrying it in kopf's backoff loop)."""
    kube = rt.kube
    assert kube is not None
    refused = rt.rejected.setdefault((model.namespace, model.name), {})
    accepted = True
    for obj in plan.create:
        try:
            await kube.create(path_for(obj["apiVersion"], _plural(obj), model.namespace), obj)
        except KubeError as error:
            if error.status not in rejections.REFUSED:
                raise
            refused[rejections.key_of(obj)] = rejections.Rejection(
                children.content_hash(obj), error.status, error.reason, error.message, now)
            log.warning("%s/%s: the API server refused %s %s: %s", model.namespace, model.name, obj["kind"],
                        obj["metadata"]["name"], error)
            accepted = False
            continue
        refused.pop(rejections.key_of(obj), None)
        log.info("%s/%s: created %s %s", model.namespace, model.name, obj["kind"], obj["metadata"]["name"])
    return accepted


async def apply(rt: Runtime, model: Model, plan: Plan, body: Mapping[str, Any], old_status: Mapping[str, Any]) -> None:
    kube = rt.kube
    assert kube is not None
    for obj in plan.patch:
        await kube.merge_patch(path_for(obj["apiVersion"], _plural(obj), model.namespace, obj["metadata"]["name"]), obj)
        log.info("%s/%s: updated %s %s", model.namespace, model.name, obj["kind"], obj["metadata"]["name"])
    for ref in plan.delete:
        if await kube.delete(path_for(ref.api_version, ref.plural, model.namespace, ref.name)):
            log.info("%s/%s: deleted %s %s", model.namespace, model.name, ref.plural, ref.name)
    diff = planner.status_patch(old_status, plan.status)
    if diff:
        written = await kube.merge_patch(path_for(f"{GROUP}/{VERSION}", PLURAL, model.namespace, model.name, "status"),
                                         {"status": diff})
        rv = str(((written or {}).get("metadata") or {}).get("resourceVersion") or "")
        if rv:  # opaque: compared for equality only
            rt.written[(model.namespace, model.name)] = staleness.Written(rv, dict(written.get("status") or {}))  # type: ignore[union-attr]
    for event in plan.events:
        kopf.event(dict(body), type="Warning" if event.warning else "Normal", reason=event.reason,
                   message=f"{event.type}={event.status}: {event.message}"[:1000] if event.type != "Phase"
                   else f"phase {event.status}: {event.message}"[:1000])


async def reconcile(rt: Runtime, body: Mapping[str, Any], indexes: Mapping[str, Any], models_index: Any) -> None:
    async with rt.lock((body["metadata"]["namespace"], body["metadata"]["name"])):
        started = time.perf_counter()
        old_status = rt.newest_status(body)
        try:
            model = parse_model(body)
        except ValidationError as error:  # e.g. an apiserver without CEL: say so instead of crashing
            await _invalid(rt, body, old_status, error)
            return
        status = _status({"metadata": body["metadata"], "status": old_status})
        try:
            observed = await observe(rt, model, status, indexes, models_index)
            retry = (body["metadata"].get("annotations") or {}).get(names.ANN_RETRY)
            observed = dataclasses.replace(observed, retry=retry)
            now = datetime.now(timezone.utc)
            plan = planner.plan(model, status, observed, rt.settings, now)
            if not await create_children(rt, model, plan, now):  # plan again: the refusal becomes a condition
                observed = dataclasses.replace(observed, rejected=dict(rt.rejected.get((model.namespace, model.name), {})))
                plan = planner.plan(model, status, observed, rt.settings, now)
                await create_children(rt, model, plan, now)
            await apply(rt, model, plan, body, old_status)
        except KubeError as error:
            op_metrics.RECONCILES.labels(result="error").inc()
            raise kopf.TemporaryError(f"API error: {error}", delay=5) from error
        op_metrics.RECONCILES.labels(result="ok").inc()
        op_metrics.RECONCILE_SECONDS.observe(time.perf_counter() - started)
        op_metrics.PHASES.set_phase((model.namespace, model.name), plan.status.get("phase", ""))


async def _invalid(rt: Runtime, body: Mapping[str, Any], old_status: Mapping[str, Any], error: ValidationError) -> None:
    assert rt.kube is not None
    meta = body["metadata"]
    problems = "; ".join(f"spec.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors())
    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    status = {"phase": "Failed", "message": f"invalid spec: {problems}"[:300],
              "conditions": [{"type": "Degraded", "status": "True", "reason": "InvalidSpec",
                              "message": problems[:4000], "lastTransitionTime": now}]}
    if old_status.get("message") != status["message"]:
        await rt.kube.merge_patch(path_for(f"{GROUP}/{VERSION}", PLURAL, meta["namespace"], meta["name"], "status"),
                                  {"status": status})
        kopf.event(dict(body), type="Warning", reason="InvalidSpec", message=problems[:1000])


async def autoscale(rt: Runtime, body: Mapping[str, Any], memo: Any, indexes: Mapping[str, Any]) -> None:
    try:
        model = parse_model(body)
    except ValidationError as error:
        log.debug("not autoscaling %s: invalid spec (%s)", body["metadata"].get("name"), error)
        return
    if not model.spec.serving.enabled or model.spec.task == Task.pretraining:
        return
    key = (model.namespace, model.name)
    server = names.server(model.name)
    store = indexes["rejoinder_deployments"]
    deployment = next((d for d in (store.get(key, ()) if key in store else ()) if d["metadata"]["name"] == server), None)
    if deployment is None:
        log.debug("%s/%s: no Deployment to scale yet", model.namespace, model.name)
        return
    pods_store = indexes["rejoinder_pods"]
    pods = [p for p in (pods_store.get(key, ()) if key in pods_store else ())
            if (p["metadata"].get("labels") or {}).get(names.LABEL_COMPONENT) == names.COMPONENT_SERVER and pod_ready(p)]
    await scaler.step(rt, model, body, memo, deployment, pods)


async def delete_children(rt: Runtime, body: Mapping[str, Any], indexes: Mapping[str, Any]) -> None:
    """Explicit cleanup (owner references let the garbage collector do the same, later)."""
    kube = rt.kube
    assert kube is not None
    meta = body["metadata"]
    key = (meta["namespace"], meta["name"])
    for index, api, plural in (("rejoinder_deployments", "apps/v1", "deployments"), ("rejoinder_services", "v1", "services"),
                               ("rejoinder_pdbs", "policy/v1", "poddisruptionbudgets"), ("rejoinder_jobs", "batch/v1", "jobs"),
                               ("rejoinder_config_maps", "v1", "configmaps")):
        store = indexes[index]
        for obj in list(store.get(key, ()) if key in store else ()):
            if (obj["metadata"].get("labels") or {}).get(names.LABEL_COMPONENT) == names.COMPONENT_CLEANUP:
                continue
            await kube.delete(path_for(api, plural, meta["namespace"], obj["metadata"]["name"]))
    if await rt.mpijob_supported():
        for obj in await kube.list(path_for(MPIJOB_API, "mpijobs", meta["namespace"]), f"{names.LABEL_MODEL}={meta['name']}"):
            await kube.delete(path_for(MPIJOB_API, "mpijobs", meta["namespace"], obj["metadata"]["name"]))
    try:
        model = parse_model(body)
    except ValidationError:
        return
    job = children.cleanup_job(model, rt.settings)
    if job is not None:
        try:
            await kube.create(path_for("batch/v1", "jobs", model.namespace), job)
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


def build_registry(settings: OperatorSettings) -> tuple[kopf.OperatorRegistry, Runtime]:
    registry = kopf.OperatorRegistry()
    rt = Runtime(settings)
    resource = (GROUP, VERSION, PLURAL)

    @kopf.on.startup(registry=registry)
    async def startup(settings: kopf.OperatorSettings, **_: Any) -> None:
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
        for group, version, plural in CHILD_RESOURCES:
            settings.watching.label_selectors[group, version, plural] = f"{names.LABEL_MANAGED_BY}={names.MANAGED_BY}"
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
        creds = Credentials.load()
        return kopf.ConnectionInfo(server=creds.server, token=creds.token, ca_path=creds.ca_file,
                                   certificate_path=creds.cert_file, private_key_path=creds.key_file,
                                   insecure=not creds.verify, default_namespace=creds.namespace)

    def child_index(group: str, version: str, plural: str, fn_name: str) -> None:
        # async: sync handlers would go through kopf's small thread pool, one hop per watch event
        async def index(namespace: Optional[str], labels: Mapping[str, str], body: Mapping[str, Any], **_: Any) -> Any:
            key = _model_key(namespace, labels)
            return {key: _snapshot(body)} if key else None

        index.__name__ = fn_name
        kopf.index(group, version, plural, labels=MANAGED, registry=registry, id=fn_name)(index)

    child_index("", "v1", "configmaps", "rejoinder_config_maps")
    child_index("batch", "v1", "jobs", "rejoinder_jobs")
    child_index("apps", "v1", "deployments", "rejoinder_deployments")
    child_index("", "v1", "services", "rejoinder_services")
    child_index("policy", "v1", "poddisruptionbudgets", "rejoinder_pdbs")
    child_index("", "v1", "pods", "rejoinder_pods")

    @kopf.index(*resource, registry=registry, id="rejoinder_models")
    async def rejoinder_models(namespace: str, name: str, status: Mapping[str, Any], **_: Any) -> Any:
        return {(namespace, name): (status or {}).get("trainedVersion")}

    @kopf.index(*resource, registry=registry, id="rejoinder_model_bodies")
    async def rejoinder_model_bodies(namespace: str, name: str, body: kopf.Body, **_: Any) -> Any:
        return {(namespace, name): _snapshot(body)}

    def indexes_of(kwargs: Mapping[str, Any]) -> dict[str, Any]:
        return {name: kwargs[name] for name in _INDEXED}

    @kopf.on.resume(*resource, registry=registry, backoff=5)
    @kopf.on.create(*resource, registry=registry, backoff=5)
    @kopf.on.update(*resource, field="spec", registry=registry, backoff=5)
    async def changed(body: kopf.Body, memo: kopf.Memo, **kwargs: Any) -> None:
        await reconcile(rt, body, indexes_of(kwargs), kwargs["rejoinder_models"])

    async def child_changed(namespace: Optional[str], labels: Mapping[str, str], **kwargs: Any) -> None:
        """A child's status moved (Job finished, pods ready...): reconcile its model now, not at the next resync."""
        key = _model_key(namespace, labels)
        bodies = kwargs["rejoinder_model_bodies"]
        if key is None or key not in bodies:
            return

        async def run() -> None:
            current = next(iter(bodies.get(key, ())), None) if key in bodies else None
            if current is not None and not current["metadata"].get("deletionTimestamp"):
                await reconcile(rt, current, indexes_of(kwargs), kwargs["rejoinder_models"])

        try:
            await rt.coalesce(key, run)
        except kopf.TemporaryError as error:  # the resync timer retries; events must not pile up retries
            log.info("%s/%s: reconciliation after a child event failed: %s", key[0], key[1], error)

    for group, version, plural in (("batch", "v1", "jobs"), ("apps", "v1", "deployments"), ("", "v1", "pods")):
        kopf.on.event(group, version, plural, labels=MANAGED, registry=registry,
                      id=f"child-{plural}")(child_changed)

    @kopf.timer(*resource, interval=settings.resync_seconds, initial_delay=settings.resync_seconds, registry=registry)
    async def resync(body: kopf.Body, memo: kopf.Memo, **kwargs: Any) -> None:
        await reconcile(rt, body, indexes_of(kwargs), kwargs["rejoinder_models"])

    @kopf.timer(*resource, interval=settings.autoscale_seconds, initial_delay=settings.autoscale_seconds,
                registry=registry)
    async def scale(body: kopf.Body, memo: kopf.Memo, **kwargs: Any) -> None:
        await autoscale(rt, body, memo, indexes_of(kwargs))

    @kopf.on.delete(*resource, registry=registry, backoff=2)
    async def deleted(body: kopf.Body, **kwargs: Any) -> None:
        await delete_children(rt, body, indexes_of(kwargs))
        op_metrics.PHASES.forget((body["metadata"]["namespace"], body["metadata"]["name"]))
        rt.forget((body["metadata"]["namespace"], body["metadata"]["name"]))

    @kopf.on.probe(id="dialogmodels", registry=registry)
    def probe(**_: Any) -> int:
        return op_metrics.PHASES.count()

    return registry, rt
