"""One reconciliation of a DialogModel: observe (kopf's indexes and a few reads) → plan (the pure
planner) → apply (creates, patches, deletes, the status and Events)."""

from __future__ import annotations

import dataclasses
import logging
import time
from datetime import datetime, timezone
from typing import Any, Mapping, Optional

import kopf
from pydantic import ValidationError

from rejoinder.api.status import DialogModelStatus

from . import canary_reading, child_kinds, children, names, planner, rejections
from . import metrics as op_metrics
from .children import ParsedDialogModel
from .indexes import by_name
from .indexes import model_children
from .invalid_spec import invalid_spec_status, problems
from .kube import KubeError, path_for
from .planner import Observed, Plan
from .runtime import OperatorRuntime
from .workloads import pod_ready

log = logging.getLogger(__name__)

DEPLOYMENT, SERVICE, PDB = child_kinds.of("Deployment"), child_kinds.of("Service"), child_kinds.of("PodDisruptionBudget")
JOB, CONFIG_MAP, POD, MPIJOB = child_kinds.of("Job"), child_kinds.of("ConfigMap"), child_kinds.of("Pod"), child_kinds.of("MPIJob")
HPA, SCALED_OBJECT = child_kinds.of("HorizontalPodAutoscaler"), child_kinds.of("ScaledObject")


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


async def observe(rt: OperatorRuntime, model: ParsedDialogModel, status: DialogModelStatus, indexes: Mapping[str, Any],
                  models_index: Any) -> Observed:
    key = (model.namespace, model.name)
    kube, s = rt.kube, rt.settings
    assert kube is not None
    jobs = by_name(model_children(indexes, JOB, key))
    pods = model_children(indexes, POD, key)
    server = names.server(model.name)
    latest = planner.model_version(model.spec)
    supported = await rt.served(MPIJOB)
    mpijobs: dict[str, dict[str, Any]] = {}
    if supported:
        mpijobs = by_name(await kube.list(path_for(MPIJOB.api_version, MPIJOB.plural, model.namespace),
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
    hpa = await kube.get(path_for(HPA.api_version, HPA.plural, model.namespace, server))
    keda = await rt.served(SCALED_OBJECT)
    scaled_object = (await kube.get(path_for(SCALED_OBJECT.api_version, SCALED_OBJECT.plural, model.namespace, server))
                     if keda else None)

    def trained(name: Optional[str]) -> Optional[bool]:
        key = (model.namespace, name)
        return None if name is None else key in models_index and any(v for v in models_index[key])

    def named(kind: child_kinds.ChildKind, name: str) -> Optional[dict[str, Any]]:
        return next((d for d in model_children(indexes, kind, key) if d["metadata"]["name"] == name), None)

    def named_server(kind: child_kinds.ChildKind) -> Optional[dict[str, Any]]:
        return named(kind, server)

    feedback: list[Any] = []
    if status.canary is not None and status.canary.outcome == "Observing" and rt.http is not None:
        ready = [p for p in pods if (p["metadata"].get("labels") or {}).get(names.LABEL_COMPONENT) == names.COMPONENT_SERVER
                 and pod_ready(p)]
        feedback = await canary_reading.read_pods(rt.http, ready, s.metrics_url, s.scrape_timeout_seconds)

    def newest(name: Optional[str]) -> Optional[str]:
        """The trained version of DialogModel `name` (kopf's index of DialogModels' status)."""
        return None if name is None else next((v for v in models_index.get((model.namespace, name), ()) if v), None)

    init = model.spec.model.init
    init_trained = trained(init.dialog_model if init is not None else None)
    reactions = model.spec.data.reactions_from
    return Observed(
        rejected=dict(rt.rejected.get(key, {})),
        config_maps=by_name(model_children(indexes, CONFIG_MAP, key)), jobs=jobs, mpijobs=mpijobs, mpijob_supported=supported,
        deployment=named_server(DEPLOYMENT), service=named_server(SERVICE), pdb=named_server(PDB),
        canary_deployment=named(DEPLOYMENT, names.canary(model.name)),
        headless_service=named(SERVICE, names.headless(model.name)), feedback=feedback,
        pods=pods, training_log=training_log, index_log=index_log, init_model_trained=init_trained,
        negatives_model_trained=trained(model.spec.data.negatives_from),
        reactions_model_trained=trained(reactions.dialog_model if reactions is not None else None),
        reranker_version=newest(model.spec.serving.reranker),
        hpa=hpa, scaled_object=scaled_object, keda_supported=keda,
    )


def _path(obj: Mapping[str, Any], namespace: str, name: Optional[str] = None) -> str:
    return path_for(obj["apiVersion"], child_kinds.plural(obj["kind"]), namespace, name)


async def create_children(rt: OperatorRuntime, model: ParsedDialogModel, plan: Plan, now: datetime) -> bool:
    """Create the plan's new children; False when the apiserver refused one (it is remembered, so
    the next plan reports it as a condition instead of retrying it in kopf's backoff loop)."""
    kube = rt.kube
    assert kube is not None
    refused = rt.rejected.setdefault((model.namespace, model.name), {})
    accepted = True
    for obj in plan.create:
        try:
            await kube.create(_path(obj, model.namespace), obj)
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


async def apply(rt: OperatorRuntime, model: ParsedDialogModel, plan: Plan, body: Mapping[str, Any],
                old_status: Mapping[str, Any]) -> None:
    kube = rt.kube
    assert kube is not None
    for obj in plan.patch:
        await kube.merge_patch(_path(obj, model.namespace, obj["metadata"]["name"]), obj)
        log.info("%s/%s: updated %s %s", model.namespace, model.name, obj["kind"], obj["metadata"]["name"])
    for ref in plan.delete:
        if await kube.delete(path_for(ref.api_version, ref.plural, model.namespace, ref.name)):
            log.info("%s/%s: deleted %s %s", model.namespace, model.name, ref.plural, ref.name)
    diff = planner.status_patch(old_status, plan.status)
    if diff:
        await rt.write_status((model.namespace, model.name), diff)
    for event in plan.events:
        kopf.event(dict(body), type="Warning" if event.warning else "Normal", reason=event.reason,
                   message=f"{event.type}={event.status}: {event.message}"[:1000] if event.type != "Phase"
                   else f"phase {event.status}: {event.message}"[:1000])


async def reconcile(rt: OperatorRuntime, body: Mapping[str, Any], indexes: Mapping[str, Any], models_index: Any) -> None:
    async with rt.lock((body["metadata"]["namespace"], body["metadata"]["name"])):
        started = time.perf_counter()
        old_status = rt.newest_status(body)
        try:
            model = ParsedDialogModel.from_body(body)
        except ValidationError as error:  # e.g. an apiserver without CEL: say so instead of crashing
            await _report_invalid(rt, body, old_status, error)
            return
        status = _status({"metadata": body["metadata"], "status": old_status})
        try:
            observed = await observe(rt, model, status, indexes, models_index)
            retry = (body["metadata"].get("annotations") or {}).get(names.ANN_RETRY)
            observed = dataclasses.replace(observed, retry=retry)
            now = rt.settings.clock()
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


async def _report_invalid(rt: OperatorRuntime, body: Mapping[str, Any], old_status: Mapping[str, Any],
                          error: ValidationError) -> None:
    meta = body["metadata"]
    status = invalid_spec_status(error, datetime.now(timezone.utc))
    if old_status.get("message") != status["message"]:
        await rt.write_status((meta["namespace"], meta["name"]), status)
        kopf.event(dict(body), type="Warning", reason="InvalidSpec", message=problems(error)[:1000])
