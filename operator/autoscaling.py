"""The built-in autoscaler's control loop: one step for one DialogModel at each autoscale timer.

Reads the request rate (pods' /metrics or a Prometheus query), decides as the HPA would
(autoscaler.decide), writes the Deployment's replicas, and reports in the ScalingActive condition
what it saw: a failed scrape or an empty query is visible there, and nothing is scaled down on
it. It stands aside, with that condition, when another HPA or ScaledObject targets the Deployment,
and does nothing when the spec's engine is hpa or keda (the planner manages those objects).
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timezone
from typing import Any, Mapping, Optional

import kopf
from pydantic import ValidationError

from rejoinder.api.spec import AutoscalingEngine, Task
from rejoinder.api.status import ConditionType, DialogModelStatus

from . import autoscaler, child_kinds, names, scaling_objects, scraping
from . import metrics as op_metrics
from .children import ParsedDialogModel
from .conditions import Conditions
from .indexes import model_children
from .kube import KubeError, path_for
from .runtime import OperatorRuntime
from .workloads import pod_ready

log = logging.getLogger(__name__)

DEPLOYMENT, POD = child_kinds.of("Deployment"), child_kinds.of("Pod")


async def autoscale(rt: OperatorRuntime, body: Mapping[str, Any], memo: Any, indexes: Mapping[str, Any]) -> None:
    """The autoscale timer of one DialogModel: find its server Deployment and ready pods, then step."""
    try:
        model = ParsedDialogModel.from_body(body)
    except ValidationError as error:
        log.debug("not autoscaling %s: invalid spec (%s)", body["metadata"].get("name"), error)
        return
    if not model.spec.serving.enabled or model.spec.task == Task.pretraining:
        return
    key = (model.namespace, model.name)
    server = names.server(model.name)
    deployment = next((d for d in model_children(indexes, DEPLOYMENT, key) if d["metadata"]["name"] == server), None)
    if deployment is None:
        log.debug("%s/%s: no Deployment to scale yet", model.namespace, model.name)
        return
    pods = [p for p in model_children(indexes, POD, key)
            if (p["metadata"].get("labels") or {}).get(names.LABEL_COMPONENT) == names.COMPONENT_SERVER and pod_ready(p)]
    await step(rt, model, body, memo, deployment, pods)


async def other_autoscaler(rt: OperatorRuntime, model: ParsedDialogModel) -> Optional[str]:
    """`<Kind> <name>` of an HPA or ScaledObject, not this operator's, that scales the model's Deployment."""
    assert rt.kube is not None
    server = names.server(model.name)
    found: list[str] = []
    sources = [child_kinds.of("HorizontalPodAutoscaler")]
    keda = child_kinds.of("ScaledObject")
    if await rt.served(keda):
        sources.append(keda)
    for source in sources:
        try:
            items = await rt.kube.list(path_for(source.api_version, source.plural, model.namespace))
        except KubeError as error:  # e.g. RBAC trimmed by hand: say so, keep autoscaling
            log.warning("%s/%s: cannot list %s: %s", model.namespace, model.name, source.plural, error)
            continue
        found += [f"{source.kind} {o['metadata']['name']}" for o in items
                  if scaling_objects.targets(o, server) and not scaling_objects.is_ours(o, model.name)]
    return found[0] if found else None


async def read_rate(rt: OperatorRuntime, model: ParsedDialogModel, memo: Any, ready_pods: list[Mapping[str, Any]]) -> scraping.Rate:
    s = rt.settings
    assert rt.http is not None
    if s.prometheus_url:
        query = scraping.prometheus_query(s.prometheus_query, namespace=model.namespace, model=model.name,
                                          deployment=names.server(model.name))
        return await scraping.prometheus_rps(rt.http, s.prometheus_url, query, s.scrape_timeout_seconds)
    urls = {p["metadata"]["name"]: url for p in ready_pods if (url := s.metrics_url(p))}
    answered, failed = await scraping.scrape_pods(rt.http, urls, s.scrape_timeout_seconds)
    rate = scraping.pod_rate(memo.get("last_scrape") or {}, answered, failed, ready=len(ready_pods))
    memo["last_scrape"] = answered
    return rate


async def step(rt: OperatorRuntime, model: ParsedDialogModel, body: Mapping[str, Any], memo: Any, deployment: Mapping[str, Any],
               ready_pods: list[Mapping[str, Any]]) -> None:
    serving = model.spec.serving
    if serving.autoscaling.engine != AutoscalingEngine.operator:
        memo.pop("samples", None)
        return
    assert rt.kube is not None
    other = await other_autoscaler(rt, model)
    if other is not None:
        memo.pop("samples", None)
        await report(rt, body, None, False, "OtherAutoscaler",
                     f"{other} scales Deployment {names.server(model.name)}: the operator leaves its replicas alone "
                     "(remove it, or set serving.autoscaling.engine to hpa or keda to let the operator manage one)")
        return
    now = time.monotonic()
    rate = await read_rate(rt, model, memo, ready_pods)
    source = "Prometheus" if rt.settings.prometheus_url else f"{len(ready_pods)} ready pods' metrics"
    log.debug("%s/%s: %d ready model-server pods, %s requests/s (%s)", model.namespace, model.name,
              len(ready_pods), rate.rps, rate.problem)
    if rate.rps is None:
        reason = "NoReadyPods" if not ready_pods and not rt.settings.prometheus_url else "FailedGetMetrics"
        await report(rt, body, None, False, reason, f"request rate unknown: {rate.problem}; replicas unchanged")
        return
    samples = list(memo.get("samples") or [])
    if not rate.partial:  # a lower bound must not count towards the scale-down window
        samples = autoscaler.prune(samples + [autoscaler.Sample(now, rate.rps)], serving.scale_down_stabilization_seconds, now)
        memo["samples"] = samples
    scale_ups = autoscaler.prune_scale_ups(memo.get("scale_ups") or [], now)
    current = int((deployment.get("spec") or {}).get("replicas") or 1)
    decision = autoscaler.decide(samples or [autoscaler.Sample(now, rate.rps)], current,
                                 min_replicas=serving.min_replicas, max_replicas=serving.max_replicas,
                                 target_per_replica=serving.target_rps_per_replica,
                                 stabilization_seconds=serving.scale_down_stabilization_seconds, now=now,
                                 scale_ups=scale_ups, partial=rate.partial)
    if decision.replicas != current:
        await rt.kube.merge_patch(path_for(DEPLOYMENT.api_version, DEPLOYMENT.plural, model.namespace,
                                           names.server(model.name)),
                                  {"spec": {"replicas": decision.replicas}})
        up = decision.replicas > current
        if up:
            scale_ups.append(autoscaler.ScaleUp(now, decision.replicas - current))
        op_metrics.SCALINGS.labels(direction="up" if up else "down").inc()
        kopf.event(dict(body), type="Normal", reason="ScaledUp" if up else "ScaledDown",
                   message=f"{current} → {decision.replicas} replicas at {rate.rps:.1f} requests/s "
                           f"(target {serving.target_rps_per_replica:g} per replica; {decision.reason})")
        log.info("%s/%s: %s %d → %d replicas at %.1f rps", model.namespace, model.name, decision.reason,
                 current, decision.replicas, rate.rps)
    memo["scale_ups"] = scale_ups
    if rate.partial:
        await report(rt, body, rate.rps, False, "FailedGetPodMetrics", f"{rate.problem}; scaling up only")
    else:
        await report(rt, body, rate.rps, True, "ValidMetricFound",
                     f"request rate from {source}; last decision: {decision.reason}")


async def report(rt: OperatorRuntime, body: Mapping[str, Any], rps: Optional[float], ok: bool, reason: str, message: str) -> None:
    """Write status.rps and the ScalingActive condition, when they changed (one writer at a time)."""
    assert rt.kube is not None
    meta = body["metadata"]
    key = (meta["namespace"], meta["name"])
    async with rt.lock(key):
        old = rt.newest_status(body)
        try:
            status = DialogModelStatus.model_validate({k: v for k, v in old.items() if v is not None})
        except ValidationError:
            return  # the reconciler rewrites an unreadable status first
        conds = Conditions(list(status.conditions), datetime.now(timezone.utc), int(meta.get("generation") or 1))
        conds.set(ConditionType.ScalingActive, ok, reason, message)
        patch: dict[str, Any] = {}
        new_conditions = DialogModelStatus(conditions=conds.as_list()).to_wire()["conditions"]
        before = {c.get("type"): (c.get("status"), c.get("reason"), c.get("message")) for c in old.get("conditions") or []}
        after = {c["type"]: (c["status"], c["reason"], c.get("message")) for c in new_conditions}
        if before != after:
            patch["conditions"] = new_conditions
        if rps is not None and old.get("rps") != round(rps, 2):
            patch["rps"] = round(rps, 2)
        if not patch:
            return
        await rt.write_status(key, patch)
        if before.get(ConditionType.ScalingActive.value, (None, None))[:2] != (after[ConditionType.ScalingActive.value][:2]):
            kopf.event(dict(body), type="Normal" if ok else "Warning", reason=reason, message=message[:1000])
