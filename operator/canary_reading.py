"""Reading the model servers' feedback counters for a canary: each ready pod's /metrics (the same
pods and port as the autoscaler's request counters, scraping.py), summed over version labels.

A pod that does not answer is unknown (None), never zero: canary.tally keeps its last reading.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Any, Callable, Mapping, Optional, Sequence

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from rejoinder.pipeline.conditions import parse_rfc3339

from .canary import PodSeen, Reading, track_of

log = logging.getLogger(__name__)

FEEDBACK_METRIC = "rejoinder_feedback_total"  # {version, reaction}: modelserver/metrics.py


def feedback_counts(metrics_text: str) -> tuple[int, int]:
    """(upvotes, downvotes) of one server's exposition, summed over its version labels.

    A pod serves one version; summing keeps a reading whole whatever the label says (the model
    version, or model+reranker, rejoinder.feedback.records.served_version)."""
    up = down = 0.0
    for family in text_string_to_metric_families(metrics_text):
        if family.name not in (FEEDBACK_METRIC, FEEDBACK_METRIC.removesuffix("_total")):
            continue
        for sample in family.samples:
            if sample.name != FEEDBACK_METRIC:
                continue
            reaction = sample.labels.get("reaction")
            if reaction == "upvote":
                up += sample.value
            elif reaction == "downvote":
                down += sample.value
    return int(up), int(down)


def restarts(pod: Mapping[str, Any]) -> int:
    return sum(int(c.get("restartCount") or 0) for c in ((pod.get("status") or {}).get("containerStatuses") or []))


def created(pod: Mapping[str, Any]) -> Optional[datetime]:
    return parse_rfc3339((pod.get("metadata") or {}).get("creationTimestamp"))


async def read_pods(session: aiohttp.ClientSession, pods: Sequence[Mapping[str, Any]],
                    url_of: Callable[[Mapping[str, Any]], Optional[str]], timeout: float) -> list[PodSeen]:
    """Every given (ready) pod with its counters, or unknown with why."""

    async def one(pod: Mapping[str, Any]) -> PodSeen:
        meta = pod.get("metadata") or {}
        name, track = meta.get("name", ""), track_of(meta.get("labels") or {})
        url = url_of(pod)
        if not url:
            return PodSeen(name, track, created(pod), None, "no metrics address yet")
        try:
            async with session.get(url, timeout=aiohttp.ClientTimeout(total=timeout)) as response:
                response.raise_for_status()
                text = await response.text()
            up, down = feedback_counts(text)
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as error:
            log.info("feedback counters of pod %s at %s unavailable: %s", name, url, error)
            return PodSeen(name, track, created(pod), None, f"{url}: {error or type(error).__name__}")
        return PodSeen(name, track, created(pod), Reading(up, down, restarts(pod)))

    return list(await asyncio.gather(*(one(p) for p in pods)))
