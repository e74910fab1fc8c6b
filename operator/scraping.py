"""Reading request counters: each ready model-server pod's /metrics, or one Prometheus query.

Every reading is a `Rate`: a number, or unknown (None) with the reason. An empty Prometheus
result or a pod that does not answer is never "0 requests/s": the autoscaler must not scale down
on what it did not see.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import urllib.parse
from dataclasses import dataclass
from typing import Any, Mapping, Optional, Sequence

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from .autoscaler import counter_rate

log = logging.getLogger(__name__)

REQUESTS_METRIC = "rejoinder_requests_total"


@dataclass(frozen=True)
class Rate:
    rps: Optional[float]  # None: unknown
    problem: Optional[str] = None  # why it is unknown or partial
    partial: bool = False  # some ready pods' counters are missing: rps is a lower bound


def prometheus_query(template: str, *, namespace: str, model: str, deployment: str = "") -> str:
    """The PromQL for one model: {namespace}, {model} (label values) and {deployment} filled in."""
    return template.format(namespace=namespace, model=model, deployment=deployment)


def requests_total(metrics_text: str) -> float:
    """Sum of `rejoinder_requests_total` over every method and code."""
    total = 0.0
    for family in text_string_to_metric_families(metrics_text):
        if family.name in (REQUESTS_METRIC, REQUESTS_METRIC.removesuffix("_total")):
            for sample in family.samples:
                if sample.name == REQUESTS_METRIC:
                    total += sample.value
    return total


async def scrape_pods(session: aiohttp.ClientSession, urls: Mapping[str, str],
                      timeout: float) -> tuple[dict[str, tuple[float, float]], dict[str, str]]:
    """({pod: (time, counter)} of the pods that answered, {pod: error} of those that did not)."""

    async def one(pod: str, url: str) -> tuple[str, tuple[float, float] | str]:
        try:
            async with session.get(url, timeout=aiohttp.ClientTimeout(total=timeout)) as response:
                response.raise_for_status()
                text = await response.text()
            return pod, (time.monotonic(), requests_total(text))
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as error:
            log.info("metrics of pod %s at %s unavailable: %s", pod, url, error)
            return pod, f"{url}: {error or type(error).__name__}"

    results = await asyncio.gather(*(one(p, u) for p, u in urls.items()))
    answered = {pod: r for pod, r in results if not isinstance(r, str)}
    failed = {pod: r for pod, r in results if isinstance(r, str)}
    return answered, failed


def pod_rate(previous: Mapping[str, tuple[float, float]], answered: Mapping[str, tuple[float, float]],
             failed: Mapping[str, str], ready: int) -> Rate:
    """Requests per second of the ready pods from two scrapes, and how far to trust it."""
    if ready == 0:
        return Rate(None, "no ready model-server pod to read request counters from")
    problem = None
    if failed:
        shown = "; ".join(f"{pod}: {error}" for pod, error in sorted(failed.items())[:3])
        problem = (f"metrics of {len(failed)} of {ready} ready pods could not be read ({shown}); "
                   "check NetworkPolicies and mTLS between the operator and the model servers' metrics port")
    if not answered:
        return Rate(None, problem or "no ready pod has a metrics address yet")
    rps = counter_rate(previous, answered)
    if rps is None:
        return Rate(None, problem or "waiting for a second scrape to compute a rate")
    return Rate(rps, problem, partial=bool(failed))


async def prometheus_rps(session: aiohttp.ClientSession, base_url: str, query: str, timeout: float) -> Rate:
    """The value of an instant PromQL query returning one number; unknown when it has none."""
    url = base_url.rstrip("/") + "/api/v1/query?" + urllib.parse.urlencode({"query": query})
    try:
        async with session.get(url, timeout=aiohttp.ClientTimeout(total=timeout)) as response:
            response.raise_for_status()
            body: Any = json.loads(await response.text())
    except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as error:
        log.warning("Prometheus query failed (%s): %s", url, error)
        return Rate(None, f"Prometheus query at {base_url} failed: {error or type(error).__name__}")
    if body.get("status") != "success":
        log.warning("Prometheus query error: %s", body.get("error"))
        return Rate(None, f"Prometheus answered {body.get('errorType') or 'an error'}: {body.get('error')}")
    result: Sequence[Any] = (body.get("data") or {}).get("result") or []
    if not result:
        return Rate(None, f"the Prometheus query returned no series ({query}): are the model servers scraped "
                          "(the chart's serviceMonitor.enabled) and is their traffic recorded?")
    try:
        return Rate(float(result[0]["value"][1]))
    except (KeyError, IndexError, TypeError, ValueError):
        return Rate(None, f"unreadable Prometheus result: {str(result[0])[:200]}")
