"""Reading request counters: each ready model-server pod's /metrics, or one Prometheus query."""

from __future__ import annotations

import asyncio
import json
import logging
import time
import urllib.parse
from typing import Any, Mapping, Optional, Sequence

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

log = logging.getLogger(__name__)

REQUESTS_METRIC = "rejoinder_requests_total"


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
                      timeout: float) -> dict[str, tuple[float, float]]:
    """{pod: (time, counter)} for the pods whose endpoint answered; the others are left out."""

    async def one(pod: str, url: str) -> Optional[tuple[str, tuple[float, float]]]:
        try:
            async with session.get(url, timeout=aiohttp.ClientTimeout(total=timeout)) as response:
                response.raise_for_status()
                text = await response.text()
            return pod, (time.monotonic(), requests_total(text))
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as error:
            log.info("metrics of pod %s at %s unavailable: %s", pod, url, error)
            return None

    results = await asyncio.gather(*(one(p, u) for p, u in urls.items()))
    return dict(r for r in results if r is not None)


async def prometheus_rps(session: aiohttp.ClientSession, base_url: str, query: str, timeout: float) -> Optional[float]:
    """The value of an instant PromQL query returning one number (None when it has no result)."""
    url = base_url.rstrip("/") + "/api/v1/query?" + urllib.parse.urlencode({"query": query})
    try:
        async with session.get(url, timeout=aiohttp.ClientTimeout(total=timeout)) as response:
            response.raise_for_status()
            body: Any = json.loads(await response.text())
    except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as error:
        log.warning("Prometheus query failed (%s): %s", url, error)
        return None
    if body.get("status") != "success":
        log.warning("Prometheus query error: %s", body.get("error"))
        return None
    result: Sequence[Any] = (body.get("data") or {}).get("result") or []
    if not result:
        return 0.0
    try:
        return float(result[0]["value"][1])
    except (KeyError, IndexError, TypeError, ValueError):
        return None
