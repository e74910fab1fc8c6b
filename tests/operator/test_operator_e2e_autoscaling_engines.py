"""serving.autoscaling.engine hpa and keda end to end: the real kopf operator against the emulator
creates the HPA / ScaledObject, and when the test plays the HPA (or KEDA) by changing replicas,
even outside the spec's bounds, the operator leaves them alone. And the built-in autoscaler stands
aside for an HPA that is not its own, and says why it cannot read a request rate."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Iterator

import kubernetes_validate
import pytest
from k8s_emulator import EmulatorThread
from operator_e2e import (
    condition, create_pod, deployment, dialog_model, fast_settings, finish_job, install_crd, jobs, rollout,
    running_operator, schemaless_crd, start_job, status_of, wait_for,
)
from test_operator_e2e import Counter
from test_operator_e2e_lifecycle import FakePrometheus
from test_operator_scaling_objects import keda_strict

from rejoinder.operator import names

NS = "default"
# KEDA's ScaledObject API as the emulator serves it. Looser than KEDA's real CRD (its schema is not
# vendored here): the tests check every ScaledObject the operator writes against KEDA's own models
# (cloudcoil-models-keda, keda_strict) instead.
SCALED_OBJECT_CRD = schemaless_crd("keda.sh", "v1alpha1", "ScaledObject", "scaledobjects")
SERVING = {"minReplicas": 2, "maxReplicas": 6, "targetRpsPerReplica": 10, "scaleDownStabilizationSeconds": 1}


@pytest.fixture(scope="module")
def emu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorThread]:
    prometheus = FakePrometheus(200.0)  # far more than 6 replicas carry: tempts any autoscaler
    try:
        with EmulatorThread() as emulator:
            install_crd(emulator)
            emulator.client.create(SCALED_OBJECT_CRD, "customresourcedefinitions")
            with running_operator(emulator, tmp_path_factory.mktemp("kube"), fast_settings(prometheus_url=prometheus.url)):
                yield emulator
    finally:
        prometheus.server.shutdown()


def serving(emu: EmulatorThread, name: str, **serving_spec: Any) -> None:
    emu.client.create(dialog_model(name, task="reranking", serving={**SERVING, **serving_spec}), "dialogmodels")
    job = wait_for(lambda: jobs(emu, NS, name, "train"), "the training Job")[0]
    start_job(emu, job, log='REJOINDER_METRICS {"accuracy": 0.8}\n')
    finish_job(emu, job)
    wait_for(lambda: deployment(emu, NS, name), "the Deployment")
    rollout(emu, NS, name)
    wait_for(lambda: status_of(emu, NS, name).get("phase") == "Serving", f"{name} serving")


def play_the_autoscaler(emu: EmulatorThread, name: str, replicas: int) -> None:
    emu.client.patch("apps/v1", "deployments", NS, names.server(name), {"spec": {"replicas": replicas}})
    # a serving-only change makes the operator patch the Deployment (its template), too
    emu.client.patch("rejoinder.dev/v1alpha1", "dialogmodels", NS, name,
                     {"spec": {"serving": {"resources": {"requests": {"cpu": "2"}}}}})
    wait_for(lambda: ((deployment(emu, NS, name) or {})["spec"]["template"]["spec"]["containers"][0]
                      .get("resources", {}).get("requests", {}).get("cpu") == "2"), "the template change")
    time.sleep(3)  # six autoscaler ticks and resyncs


def test_hpa_engine_creates_a_valid_hpa_and_the_operator_never_writes_replicas(emu: EmulatorThread) -> None:
    serving(emu, "hpa-model", autoscaling={"engine": "hpa"})
    hpa = wait_for(lambda: emu.client.get("autoscaling/v2", "horizontalpodautoscalers", NS, names.server("hpa-model")), "the HPA")
    mine = {k: v for k, v in hpa.items() if k != "status"}
    mine["metadata"] = {k: hpa["metadata"][k] for k in ("name", "namespace", "labels", "ownerReferences")}
    kubernetes_validate.validate(mine, "1.33.0", strict=True)
    assert hpa["spec"]["scaleTargetRef"]["name"] == names.server("hpa-model")
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 6)
    # the HPA (played here) sets 9, beyond maxReplicas: the operator would clamp it; with an HPA it must not
    play_the_autoscaler(emu, "hpa-model", 9)
    assert deployment(emu, NS, "hpa-model")["spec"]["replicas"] == 9
    assert condition(status_of(emu, NS, "hpa-model"), "ScalingActive")["reason"] == "HorizontalPodAutoscaler"


def test_keda_engine_creates_a_valid_scaled_object_and_the_operator_never_writes_replicas(emu: EmulatorThread) -> None:
    serving(emu, "keda-model", autoscaling={"engine": "keda"})
    so = wait_for(lambda: emu.client.get("keda.sh/v1alpha1", "scaledobjects", NS, names.server("keda-model")), "the ScaledObject")
    mine = {k: v for k, v in so.items() if k != "status"}
    mine["metadata"] = {k: so["metadata"][k] for k in ("name", "namespace", "labels", "ownerReferences")}
    keda_strict(mine)
    [trigger] = so["spec"]["triggers"]
    assert trigger["metadata"]["threshold"] == "10" and 'rejoinder_dev_model="keda-model"' in trigger["metadata"]["query"]
    play_the_autoscaler(emu, "keda-model", 1)  # below minReplicas
    assert deployment(emu, NS, "keda-model")["spec"]["replicas"] == 1
    # back to the built-in autoscaler: the ScaledObject goes, and the operator scales again (to the bound)
    emu.client.patch("rejoinder.dev/v1alpha1", "dialogmodels", NS, "keda-model",
                     {"spec": {"serving": {"autoscaling": {"engine": "operator"}}}})
    wait_for(lambda: emu.client.get("keda.sh/v1alpha1", "scaledobjects", NS, names.server("keda-model")) is None,
             "the ScaledObject removed")
    wait_for(lambda: deployment(emu, NS, "keda-model")["spec"]["replicas"] == 6, "the operator scaling again")


def test_the_built_in_autoscaler_stands_aside_for_another_hpa(emu: EmulatorThread) -> None:
    serving(emu, "shared")
    theirs = {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
              "metadata": {"name": "platform-team-hpa", "namespace": NS},
              "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": names.server("shared")},
                       "minReplicas": 1, "maxReplicas": 20,
                       "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 60}}}]}}
    emu.client.create(theirs, "horizontalpodautoscalers")
    c = wait_for(lambda: (s := status_of(emu, NS, "shared")) and condition(s, "ScalingActive").get("reason") == "OtherAutoscaler"
                 and condition(s, "ScalingActive"), "ScalingActive=False OtherAutoscaler")
    assert c["status"] == "False" and "platform-team-hpa" in c["message"]
    emu.client.patch("apps/v1", "deployments", NS, names.server("shared"), {"spec": {"replicas": 3}})
    time.sleep(2)
    assert deployment(emu, NS, "shared")["spec"]["replicas"] == 3  # 200 requests/s would ask for 6
    emu.client.delete("autoscaling/v2", "horizontalpodautoscalers", NS, "platform-team-hpa")
    wait_for(lambda: deployment(emu, NS, "shared")["spec"]["replicas"] == 6, "the operator scaling once it is gone")
    wait_for(lambda: condition(status_of(emu, NS, "shared"), "ScalingActive").get("reason") == "ValidMetricFound",
             "ScalingActive=True")


def test_a_failed_scrape_of_pod_metrics_is_a_condition_and_nothing_scales_down(tmp_path: Path) -> None:
    with EmulatorThread() as emu:
        install_crd(emu)
        with running_operator(emu, tmp_path):  # scrapes pods' metrics directly
            emu.client.create(dialog_model("blocked", task="reranking", serving={**SERVING, "minReplicas": 1}), "dialogmodels")
            job = wait_for(lambda: jobs(emu, NS, "blocked", "train"), "the training Job")[0]
            start_job(emu, job, log='REJOINDER_METRICS {"accuracy": 0.8}\n')
            finish_job(emu, job)
            wait_for(lambda: deployment(emu, NS, "blocked"), "the Deployment")
            emu.client.patch("apps/v1", "deployments", NS, names.server("blocked"), {"spec": {"replicas": 3}})
            # every pod's metrics port is unreachable (a NetworkPolicy, mTLS...): port 9 refuses
            rollout(emu, NS, "blocked", metrics_urls=["http://127.0.0.1:9/metrics"] * 3)
            c = wait_for(lambda: (s := status_of(emu, NS, "blocked")) and condition(s, "ScalingActive").get("reason") == "FailedGetMetrics"
                         and condition(s, "ScalingActive"), "ScalingActive=False FailedGetMetrics")
            assert c["status"] == "False" and "127.0.0.1:9" in c["message"] and "NetworkPolicies" in c["message"]
            time.sleep(2)  # stabilisation is 1 s: an unknown rate read as 0 would have scaled down by now
            assert deployment(emu, NS, "blocked")["spec"]["replicas"] == 3
