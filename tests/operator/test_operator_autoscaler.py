"""The autoscaler as a pure function: request-rate time series in, replica decisions out."""

from __future__ import annotations

import json
import re
import urllib.parse

import aiohttp
import asyncio
import pytest
from operator_e2e import local_http_server

from rejoinder.operator.autoscaler import Sample, ScaleUp, counter_rate, decide, prune, recommend
from rejoinder.operator.progress import final_metrics, last_lines, last_progress
from rejoinder.operator import names
from rejoinder.operator.scraping import Rate, pod_rate, prometheus_query, prometheus_rps, requests_total, scrape_pods
from rejoinder.operator.settings import PROMETHEUS_QUERY

LIMITS = dict(min_replicas=1, max_replicas=10, target_per_replica=50.0, stabilization_seconds=300.0)


def series(*points: tuple[float, float]) -> list[Sample]:
    return [Sample(at, rps) for at, rps in points]


def test_replicas_are_ceil_of_rps_over_target_within_bounds() -> None:
    assert recommend(0, 50, 1, 10) == 1
    assert recommend(50, 50, 1, 10) == 1
    assert recommend(50.1, 50, 1, 10) == 2
    assert recommend(10_000, 50, 1, 10) == 10


def test_scale_up_is_immediate() -> None:
    d = decide(series((0, 10), (15, 260)), 2, now=15, **LIMITS)
    assert (d.replicas, d.reason) == (6, "ScaleUp")


def test_scale_down_waits_for_the_whole_stabilisation_window() -> None:
    # load fell 60 s ago: too early
    d = decide(series((0, 200), (240, 20), (300, 20)), 4, now=300, **LIMITS)
    assert (d.replicas, d.reason) == (4, "Stabilizing")
    # low for the whole window (the sample before it proves coverage) → down to the window's highest need
    pts = series((0, 200), (30, 60), (200, 20), (320, 20))
    d = decide(pts, 4, now=320, **LIMITS)
    assert (d.replicas, d.reason) == (2, "ScaleDown")


def test_a_short_spike_in_the_window_holds_capacity() -> None:
    pts = series((0, 20), (100, 190), (200, 20), (400, 20))
    assert decide(pts, 4, now=390, **LIMITS).replicas == 4


def test_no_history_keeps_replicas_and_bounds_are_enforced() -> None:
    assert decide([], 3, now=0, **LIMITS) .reason == "NoData"
    d = decide(series((0, 0)), 12, now=0, **LIMITS)
    assert (d.replicas, d.reason) == (10, "Clamped")
    zero_min = dict(LIMITS, min_replicas=0)
    assert decide(series((0, 0)), 1, now=0, **zero_min).replicas == 1  # min 0 acts as 1


def test_prune_keeps_window_and_one_older_sample() -> None:
    pts = series((0, 1), (100, 2), (250, 3), (400, 4))

    kept = prune(pts, 300, now=400)
    assert kept[0].at == 0 and [s.at for s in kept[1:]] == [100, 250, 400]


def test_counter_rate_over_ready_pods() -> None:
    before = {"a": (0.0, 100.0), "b": (0.0, 50.0)}
    after = {"a": (10.0, 600.0), "b": (10.0, 10.0), "c": (10.0, 999.0)}
    # a: 50/s; b restarted (counter fell) → 10 requests in 10 s; c just became ready: no rate yet
    assert counter_rate(before, after) == pytest.approx(51.0)
    assert counter_rate({}, after) is None


def test_request_counter_sums_methods_and_codes() -> None:
    text = """# HELP rejoinder_requests_total Requests
# TYPE rejoinder_requests_total counter
rejoinder_requests_total{method="Retrieve",code="OK"} 120.0
rejoinder_requests_total{method="Respond",code="OK"} 30.0
rejoinder_requests_total{method="Retrieve",code="INVALID_ARGUMENT"} 2.0
rejoinder_requests_created{method="Retrieve",code="OK"} 1.7e9
"""
    assert requests_total(text) == 152.0


def test_prometheus_query_result_is_read() -> None:
    seen: list[str] = []

    def answer(path: str) -> tuple[str, str]:
        seen.append(path)
        return "application/json", json.dumps({"status": "success", "data": {"resultType": "vector",
                                                                             "result": [{"metric": {}, "value": [1.7e9, "123.5"]}]}})

    server = local_http_server(answer)

    async def query() -> float | None:
        async with aiohttp.ClientSession() as session:
            return await prometheus_rps(session, f"http://127.0.0.1:{server.server_port}", "sum(rate(x[1m]))", 5)

    try:
        assert asyncio.run(query()).rps == 123.5
        assert seen and urllib.parse.unquote(seen[0]) == "/api/v1/query?query=sum(rate(x[1m]))"
    finally:
        server.shutdown()


def test_training_log_protocol() -> None:
    log = "\n".join([
        "REJOINDER_PROGRESS step=10 total=100 loss=2.0 examples_per_sec=10",
        "Epoch 1: 100%|####|",
        "REJOINDER_PROGRESS step=100 total=100 loss=nan examples_per_sec=12.5",
        'REJOINDER_METRICS {"recall@5": 0.61, "map": 0.4, "note": "x"}',
        "done",
    ])
    p = last_progress(log)
    assert p is not None and (p.step, p.total, p.loss, p.examples_per_sec) == (100, 100, None, 12.5)
    assert final_metrics(log) == {"recall@5": 0.61, "map": 0.4}
    assert final_metrics("REJOINDER_METRICS {broken") is None
    assert last_lines(log, 2) == "Epoch 1: 100%|####|\ndone"


# --- issue 11 (12): the built-in autoscaler behaves like the HPA -------------------------------------


def test_a_change_within_the_hpa_tolerance_keeps_replicas() -> None:
    # 4 replicas at 210 requests/s against 50 each: 5 % over target, inside the HPA's 10 % tolerance
    d = decide(series((0, 210)), 4, now=0, **LIMITS)
    assert (d.replicas, d.reason) == (4, "WithinTolerance")
    # 20 replicas at 930 requests/s: 7 % under target → no scale-down to 19 (even after the window)
    wide = dict(LIMITS, max_replicas=40)
    d = decide(series((0, 930), (400, 930)), 20, now=400, **wide)
    assert (d.replicas, d.reason) == (20, "WithinTolerance")
    # 12 % over target is outside it
    assert decide(series((0, 224)), 4, now=0, **LIMITS).replicas == 5


def test_scale_up_is_rate_limited_to_double_or_four_pods_per_15_seconds() -> None:
    big = dict(LIMITS, max_replicas=100)
    # 1 replica, load for 20: at most max(2 × 1, 1 + 4) = 5 at once
    d = decide(series((0, 1000)), 1, now=0, **big)
    assert (d.replicas, d.reason) == (5, "ScaleUpLimited")
    # 5 s later the 4 pods added in this 15 s period still count: no more yet
    d = decide(series((0, 1000), (5, 1000)), 5, now=5, scale_ups=[ScaleUp(0, 4)], **big)
    assert (d.replicas, d.reason) == (5, "ScaleUpLimited")
    # once the period has passed: max(2 × 5, 5 + 4) = 10
    d = decide(series((0, 1000), (16, 1000)), 5, now=16, scale_ups=[ScaleUp(0, 4)], **big)
    assert (d.replicas, d.reason) == (10, "ScaleUpLimited")
    # from 10: doubling (20) is more than +4 and reaches the need
    d = decide(series((0, 1000), (32, 1000)), 10, now=32, scale_ups=[ScaleUp(0, 4), ScaleUp(16, 5)], **big)
    assert (d.replicas, d.reason) == (20, "ScaleUp")


def test_a_partial_reading_can_scale_up_but_never_down() -> None:
    # some pods' metrics are missing: the sum is a lower bound of the real load
    low = decide(series((0, 20), (400, 20)), 4, now=400, partial=True, **LIMITS)
    assert (low.replicas, low.reason) == (4, "PartialMetrics")
    high = decide(series((0, 400)), 4, now=0, partial=True, **LIMITS)
    assert (high.replicas, high.reason) == (8, "ScaleUp")


# --- issue 11 (11): autoscaling inputs ---------------------------------------------------------------


def _prometheus(body: dict) -> "Rate":
    server = local_http_server(lambda path: ("application/json", json.dumps(body)))

    async def query() -> Rate:
        async with aiohttp.ClientSession() as session:
            return await prometheus_rps(session, f"http://127.0.0.1:{server.server_port}", "sum(rate(x[1m]))", 5)

    try:
        return asyncio.run(query())
    finally:
        server.shutdown()


def test_an_empty_prometheus_result_is_unknown_not_zero() -> None:
    rate = _prometheus({"status": "success", "data": {"resultType": "vector", "result": []}})
    assert rate.rps is None and rate.problem and "no series" in rate.problem


def test_a_failed_prometheus_query_is_unknown_with_the_reason() -> None:
    rate = _prometheus({"status": "error", "errorType": "bad_data", "error": "parse error at char 3"})
    assert rate.rps is None and "parse error at char 3" in (rate.problem or "")


def _matches(query: str, labels: dict[str, str]) -> bool:
    """PromQL label matchers (=, =~; regexes fully anchored) applied to one series' labels."""
    for label, op, value in re.findall(r'(\w+)\s*(=~|=)\s*"([^"]*)"', query):
        have = labels.get(label, "")
        if (op == "=" and have != value) or (op == "=~" and not re.fullmatch(value, have)):
            return False
    return True


def test_the_prometheus_query_matches_a_models_pods_by_labels_not_a_name_prefix() -> None:
    query = prometheus_query(PROMETHEUS_QUERY, namespace="ns", model="chat")
    # what the chart's ServiceMonitor attaches to a model server's series (podTargetLabels)
    mine = {"namespace": "ns", "pod": f"{names.server('chat')}-7d9f-abcde", "rejoinder_dev_model": "chat",
            "app_kubernetes_io_component": "server"}
    other = {"namespace": "ns", "pod": f"{names.server('chat-server-b')}-5c4d-fghij", "rejoinder_dev_model": "chat-server-b",
             "app_kubernetes_io_component": "server"}
    assert _matches(query, mine)
    assert not _matches(query, other), f"{query} also counts another model's pods"


def test_a_scrape_reports_the_pods_that_did_not_answer() -> None:
    server = local_http_server(lambda path: ("text/plain", "rejoinder_requests_total{method=\"Retrieve\",code=\"OK\"} 7\n"))

    async def scrape() -> tuple[dict, dict]:
        async with aiohttp.ClientSession() as session:
            return await scrape_pods(session, {"up": f"http://127.0.0.1:{server.server_port}/metrics",
                                               "down": "http://127.0.0.1:9/metrics"}, 2)

    try:
        answered, failed = asyncio.run(scrape())
    finally:
        server.shutdown()
    assert set(answered) == {"up"} and answered["up"][1] == 7.0
    assert set(failed) == {"down"} and failed["down"]


def test_reading_pod_metrics_is_unknown_or_partial_when_pods_do_not_answer() -> None:
    before = {"a": (0.0, 0.0), "b": (0.0, 0.0)}
    full = pod_rate(before, {"a": (10.0, 100.0), "b": (10.0, 100.0)}, {}, ready=2)
    assert (full.rps, full.partial, full.problem) == (20.0, False, None)
    part = pod_rate(before, {"a": (10.0, 100.0)}, {"b": "connection refused"}, ready=2)
    assert part.rps == 10.0 and part.partial and "b" in (part.problem or "") and "connection refused" in part.problem
    none = pod_rate(before, {}, {"a": "timeout", "b": "timeout"}, ready=2)
    assert none.rps is None and "timeout" in (none.problem or "")
    # no ready pod: nothing carries load yet (servers still loading) → unknown, never "0 requests/s"
    assert pod_rate({}, {}, {}, ready=0).rps is None
