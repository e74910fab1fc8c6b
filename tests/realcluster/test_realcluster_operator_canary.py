"""A canary on the real cluster: a new version gets its own Deployment beside the stable one, both
tracks' Ready pods behind the model's Service (the real EndpointSlice controller lists them), and
what the pods count in `rejoinder_feedback_total` (served by the test at the chart's metrics URL,
read by the operator over HTTP) promotes it: the stable Deployment rolls to it, the canary goes."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from kubernetes import client

from rejoinder.api import parse_dialog_model
from rejoinder.api.versioning import model_version
from rejoinder.operator import names
from tests.controlplane.cluster import ControlPlane, wait_for
from tests.controlplane.kube import raw
from tests.realcluster import dialogmodels as dm
from tests.realcluster.cluster_support import condition
from tests.realcluster.model_metrics import ModelMetrics, feedback_total, requests_total
from tests.realcluster.operator_process import OperatorProcess

pytestmark = pytest.mark.realcluster


class Reactions:
    """Each pod's feedback counters: nothing until `start`, then each scrape adds a round (the
    canary's users like it four times as often as the stable version's)."""

    def __init__(self, model: str) -> None:
        self.model = model
        self.start = threading.Event()
        self.rounds: Counter[str] = Counter()

    def __call__(self, pod: str) -> str:
        if self.start.is_set():
            self.rounds[pod] += 1
        up, down = (8, 2) if pod.startswith(names.canary(self.model)) else (2, 8)
        n = self.rounds[pod]
        return requests_total(0) + feedback_total("v", up * n, down * n)


def endpoints(api: client.ApiClient, namespace: str, service: str) -> set[str]:
    """Pods the EndpointSlice controller lists as ready behind a Service."""
    slices = raw(client.DiscoveryV1Api(api).list_namespaced_endpoint_slice, namespace,
                 label_selector=f"kubernetes.io/service-name={service}")["items"]
    return {e["targetRef"]["name"] for s in slices for e in s.get("endpoints") or []
            if (e.get("conditions") or {}).get("ready")}


def test_a_canary_serves_beside_the_stable_track_and_is_promoted(
        control_plane: ControlPlane, namespace: str, artifacts: str, model_metrics: ModelMetrics,
        operator: OperatorProcess, training_results: dict[str, float]) -> None:
    api = control_plane.api()
    reactions = Reactions("gamma")
    model_metrics.by_namespace[namespace] = reactions
    canary = {"trafficPercent": 50, "minReactions": 10, "maxDurationSeconds": 600}
    body = dm.create(api, namespace, dm.small("gamma", artifacts, rollout={"canary": canary}))
    stable = model_version(parse_dialog_model(body).spec)
    dm.wait_phase(api, namespace, "gamma", "Serving", servingVersion=stable)

    new = model_version(parse_dialog_model(dm.patch_spec(api, namespace, "gamma", {"training": {"steps": 200}})).spec)
    observing = dm.wait_status(api, namespace, "gamma", lambda s: (s.get("canary") or {}).get("outcome") == "Observing"
                               and dm.condition(s, "CanaryJudged").get("reason") != "CanaryStarting", "a canary observed")
    assert observing["servingVersion"] == stable and observing["canary"]["version"].startswith(new)

    # side by side: each track's Deployment has a Ready pod of its version, both behind the Service
    deployments = {d["metadata"]["name"]: d for d in dm.children(api, namespace, "gamma", "Deployment")}
    assert set(deployments) == {names.server("gamma"), names.canary("gamma")}
    assert deployments[names.server("gamma")]["metadata"]["annotations"][names.ANN_VERSION] == stable
    assert deployments[names.canary("gamma")]["metadata"]["annotations"][names.ANN_VERSION] == new
    pods = {p["metadata"]["name"]: p for p in dm.component(dm.children(api, namespace, "gamma", "Pod"),
                                                           names.COMPONENT_SERVER)
            if condition(p, "Ready") == "True"}
    tracks = {(p["metadata"]["labels"][names.LABEL_TRACK], p["metadata"]["labels"][names.LABEL_VERSION])
              for p in pods.values()}
    assert tracks == {(names.TRACK_STABLE, stable), (names.TRACK_CANARY, new)}
    wait_for("both tracks behind the Service", lambda: endpoints(api, namespace, names.server("gamma")) == set(pods),
             timeout=120)

    reactions.start.set()  # users react: the canary's ratio 0.8, the stable's 0.2
    status = dm.wait_phase(api, namespace, "gamma", "Serving", servingVersion=new)
    assert status["canary"]["outcome"] == "Promoted"
    wait_for("the canary Deployment removed", lambda: [d["metadata"]["name"] for d in dm.children(
        api, namespace, "gamma", "Deployment")] == [names.server("gamma")], timeout=120)
