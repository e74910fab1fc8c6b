"""rollout.canary end to end: the real operator (kopf) against the emulator, with fake model-server
pods serving rejoinder_feedback_total from real HTTP servers on 127.0.0.1. The tests play the
Deployment controller and kubelet; the operator's clock is moved past maxDurationSeconds instead
of sleeping through it."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from typing import Any, Iterator

import pytest
from k8s_emulator import EmulatorThread
from operator_e2e import (
    API, METRICS_URL_ANNOTATION, condition, create_pod, deployed_version, deployment, dialog_model, emulator_with_operator,
    fast_settings, finish_job, local_http_server, objects, rollout, start_job, status_of, wait_for,
)
from test_operator_e2e import serve, train_and_index, version_of

from rejoinder.operator import names

NS = "default"


class Clock:
    """The operator's wall clock: real time plus an offset a test can move forward."""

    def __init__(self) -> None:
        self.offset = timedelta(0)
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            return datetime.now(timezone.utc) + self.offset

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.offset += timedelta(seconds=seconds)


CLOCK = Clock()


@pytest.fixture(scope="module")
def emu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorThread]:
    with emulator_with_operator(tmp_path_factory.mktemp("kube"), fast_settings(clock=CLOCK)) as emulator:
        yield emulator


class FeedbackPod:
    """A model server's /metrics: rejoinder_feedback_total{version,reaction} set by the test."""

    def __init__(self, version: str, upvotes: int = 0, downvotes: int = 0):
        self.version, self.upvotes, self.downvotes = version, upvotes, downvotes
        self.server = local_http_server(lambda path: ("text/plain; version=0.0.4", self.exposition()))
        self.url = f"http://127.0.0.1:{self.server.server_port}/metrics"

    def exposition(self) -> str:
        return ("# TYPE rejoinder_feedback_total counter\n"
                f'rejoinder_feedback_total{{version="{self.version}",reaction="upvote"}} {self.upvotes}\n'
                f'rejoinder_feedback_total{{version="{self.version}",reaction="downvote"}} {self.downvotes}\n'
                "# TYPE rejoinder_requests_total counter\n"
                'rejoinder_requests_total{method="Respond",code="OK"} 0\n')


CANARY = {"trafficPercent": 10, "minReactions": 50, "maxDurationSeconds": 60, "confidence": 0.95}


def canary_running(emu: EmulatorThread, name: str) -> tuple[str, str, FeedbackPod, FeedbackPod]:
    """v1 serving from a fake pod with 500/500 older reactions; v2 trained: its canary available
    with a fake pod, and the stable pod's baseline read. Returns (v1, v2, stable pod, canary pod)."""
    dm = dialog_model(name, rollout={"canary": CANARY})
    v1 = version_of(dm)
    emu.client.create(dm, "dialogmodels")
    train_and_index(emu, name, v1, {"recall@5": 0.5})
    stable = FeedbackPod(v1, 500, 500)
    serve(emu, name, v1, metrics_urls=[stable.url])
    emu.client.patch(API, "dialogmodels", NS, name, {"spec": {"training": {"steps": 200}}})
    v2 = version_of(dialog_model(name, training={"steps": 200}, rollout={"canary": CANARY}))
    train_and_index(emu, name, v2, {"recall@5": 0.55})
    canary_dep = wait_for(lambda: emu.client.get("apps/v1", "deployments", NS, names.canary(name)), "the canary Deployment")
    assert deployed_version(deployment(emu, NS, name)) == v1  # the stable one is untouched
    assert canary_dep["spec"]["replicas"] == 1
    assert canary_dep["spec"]["template"]["metadata"]["labels"][names.LABEL_TRACK] == "canary"
    new = FeedbackPod(v2)
    create_pod(emu, NS, canary_dep["spec"]["template"], names.canary(name), annotations={METRICS_URL_ANNOTATION: new.url})
    emu.client.patch_status("apps/v1", "deployments", NS, names.canary(name), {
        "observedGeneration": canary_dep["metadata"]["generation"], "replicas": 1, "updatedReplicas": 1,
        "readyReplicas": 1, "availableReplicas": 1, "conditions": [{"type": "Available", "status": "True"}]})
    wait_for(lambda: {p["track"] for p in (status_of(emu, NS, name).get("canary") or {}).get("pods") or []} == {"stable", "canary"},
             "both tracks' pods read")
    return v1, v2, stable, new


def events(emu: EmulatorThread, name: str) -> list[dict[str, Any]]:
    return [e for e in emu.client.list("v1", "events", NS) if e["involvedObject"]["name"] == name]


def canary_gone(emu: EmulatorThread, name: str) -> bool:
    return emu.client.get("apps/v1", "deployments", NS, names.canary(name)) is None


def test_a_better_canary_is_promoted_and_the_stable_deployment_takes_it(emu: EmulatorThread) -> None:
    v1, v2, stable, new = canary_running(emu, "cn-better")
    try:
        stable.upvotes, stable.downvotes = 500 + 40, 500 + 60  # 0.40 since the canary started
        new.upvotes, new.downvotes = 70, 30  # 0.70
        status = wait_for(lambda: (s := status_of(emu, NS, "cn-better")).get("canary", {}).get("outcome") == "Promoted" and s,
                          "the canary promoted")
        judged = status["canary"]
        assert (judged["canary"]["upvotes"], judged["canary"]["downvotes"], judged["canary"]["ratio"]) == (70, 30, 0.7)
        assert (judged["stable"]["upvotes"], judged["stable"]["downvotes"], judged["stable"]["ratio"]) == (40, 60, 0.4)
        assert (judged["version"], judged["stableVersion"]) == (v2, v1)
        assert condition(status, "CanaryJudged")["reason"] == "CanaryNotWorse"
        wait_for(lambda: deployed_version(deployment(emu, NS, "cn-better")) == v2, "the stable Deployment at v2")
        wait_for(lambda: canary_gone(emu, "cn-better"), "the canary Deployment deleted")
        rollout(emu, NS, "cn-better")
        wait_for(lambda: status_of(emu, NS, "cn-better").get("servingVersion") == v2, "v2 served")
        table = emu.client.request("GET", f"/apis/{API}/namespaces/{NS}/dialogmodels/cn-better",
                                   headers={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"})
        row = dict(zip([c["name"] for c in table["columnDefinitions"]], table["rows"][0]["cells"]))
        assert row["Canary"] == "new 0.70 of 100 / stable 0.40 of 100"
        wait_for(lambda: any(e["reason"] == "CanaryNotWorse" and "0.700 of 100" in e["message"] for e in events(emu, "cn-better")),
                 "an Event saying why")
    finally:
        stable.server.shutdown()
        new.server.shutdown()


def test_a_worse_canary_is_rolled_back_and_its_revision_failed(emu: EmulatorThread) -> None:
    v1, v2, stable, new = canary_running(emu, "cn-worse")
    try:
        stable.upvotes, stable.downvotes = 500 + 70, 500 + 30
        new.upvotes, new.downvotes = 35, 65
        status = wait_for(lambda: (s := status_of(emu, NS, "cn-worse")).get("canary", {}).get("outcome") == "RolledBack" and s,
                          "the canary rolled back")
        assert status["canary"]["reason"] == "CanaryWorse" and status["failedVersion"] == v2
        wait_for(lambda: canary_gone(emu, "cn-worse"), "the canary Deployment deleted")
        status = wait_for(lambda: (s := status_of(emu, NS, "cn-worse")).get("phase") == "Degraded" and s, "phase Degraded")
        assert condition(status, "Degraded")["reason"] == "RolledBack" and status["servingVersion"] == v1
        assert deployed_version(deployment(emu, NS, "cn-worse")) == v1
        wait_for(lambda: any(e["reason"] == "CanaryWorse" and e["type"] == "Warning" for e in events(emu, "cn-worse")),
                 "a Warning Event")
    finally:
        stable.server.shutdown()
        new.server.shutdown()


def test_too_few_reactions_by_the_deadline_keep_the_stable_version(emu: EmulatorThread) -> None:
    v1, v2, stable, new = canary_running(emu, "cn-quiet")
    try:
        stable.upvotes, stable.downvotes = 500 + 8, 500 + 4
        new.upvotes, new.downvotes = 9, 1
        wait_for(lambda: (status_of(emu, NS, "cn-quiet").get("canary") or {}).get("canary", {}).get("upvotes") == 9,
                 "the reactions counted")
        assert status_of(emu, NS, "cn-quiet")["canary"]["outcome"] == "Observing"
        CLOCK.advance(61)  # past maxDurationSeconds (60), by the operator's clock
        status = wait_for(lambda: (s := status_of(emu, NS, "cn-quiet")).get("canary", {}).get("outcome") == "KeptStable" and s,
                          "the stable version kept")
        assert status["canary"]["reason"] == "TooFewReactions" and "fewer than 50 reactions" in status["canary"]["message"]
        wait_for(lambda: canary_gone(emu, "cn-quiet"), "the canary Deployment deleted")
        status = status_of(emu, NS, "cn-quiet")
        assert status["servingVersion"] == v1 and status.get("failedVersion") is None and status["phase"] == "Serving"
        assert deployed_version(deployment(emu, NS, "cn-quiet")) == v1
        wait_for(lambda: any(e["reason"] == "TooFewReactions" for e in events(emu, "cn-quiet")), "an Event saying why")
    finally:
        stable.server.shutdown()
        new.server.shutdown()


def test_the_headless_service_selects_both_tracks(emu: EmulatorThread) -> None:
    svc = wait_for(lambda: emu.client.get("v1", "services", NS, names.headless("cn-better")), "the headless Service")
    assert svc["spec"]["clusterIP"] == "None"
    assert svc["spec"]["selector"] == names.selector("cn-better", names.COMPONENT_SERVER)


def test_a_retrained_reranker_becomes_a_canary_pinned_to_its_version(emu: EmulatorThread) -> None:
    reranker = dialog_model("cn-rr", task="reranking", serving={"enabled": False})
    emu.client.create(reranker, "dialogmodels")
    dm = dialog_model("cn-ret", rollout={"canary": CANARY}, serving={"reranker": "cn-rr"})
    v1 = version_of(dm)
    emu.client.create(dm, "dialogmodels")
    train_and_index(emu, "cn-ret", v1, {"recall@5": 0.5})
    stable = FeedbackPod(v1)
    try:
        serve(emu, "cn-ret", v1, metrics_urls=[stable.url])
        assert "--reranker-version" not in deployment(emu, NS, "cn-ret")["spec"]["template"]["spec"]["containers"][0]["command"]  # type: ignore[index]
        rv = version_of(reranker)
        job = wait_for(lambda: [j for j in objects(emu, "batch/v1", "jobs", NS, "cn-rr")
                                if j["metadata"]["labels"].get(names.LABEL_COMPONENT) == "train"], "the reranker's training Job")[0]
        start_job(emu, job, log="REJOINDER_METRICS {\"accuracy\": 0.7}\n")
        finish_job(emu, job)
        wait_for(lambda: status_of(emu, NS, "cn-rr").get("trainedVersion") == rv, "the reranker trained")
        canary_dep = wait_for(lambda: emu.client.get("apps/v1", "deployments", NS, names.canary("cn-ret")),
                              "a canary for the retrained reranker")
        assert canary_dep["spec"]["template"]["spec"]["containers"][0]["command"][-2:] == ["--reranker-version", rv]
        status = wait_for(lambda: (s := status_of(emu, NS, "cn-ret")).get("canary") and s, "status.canary")
        assert (status["canary"]["version"], status["canary"]["stableVersion"]) == (f"{v1}+{rv}", v1)
        assert deployed_version(deployment(emu, NS, "cn-ret")) == v1
        assert "--reranker-version" not in deployment(emu, NS, "cn-ret")["spec"]["template"]["spec"]["containers"][0]["command"]  # type: ignore[index]
    finally:
        stable.server.shutdown()
