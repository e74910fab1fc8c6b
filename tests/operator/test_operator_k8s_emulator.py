"""The emulator behaves like the kube-apiserver where clients depend on it (the `kubernetes` Python
client and plain HTTP, as kopf, kubectl and helm use it)."""

from __future__ import annotations

import json
import threading
import urllib.request
from pathlib import Path
from typing import Any, Iterator

import kubernetes
import pytest
from k8s_emulator import ApiFailure, EmulatorThread
from operator_e2e import API, CRD, dialog_model


@pytest.fixture(scope="module")
def emu() -> Iterator[EmulatorThread]:
    with EmulatorThread() as emulator:
        emulator.client.apply_file(CRD)
        yield emulator


@pytest.fixture(scope="module")
def api_client(emu: EmulatorThread) -> kubernetes.client.ApiClient:
    config = kubernetes.client.Configuration()
    config.host = emu.url
    return kubernetes.client.ApiClient(config)


def configmap(name: str, **labels: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": labels}, "data": {"k": "v"}}


def test_python_client_creates_reads_and_gets_api_errors(emu: EmulatorThread, api_client: kubernetes.client.ApiClient) -> None:
    core = kubernetes.client.CoreV1Api(api_client)
    created = core.create_namespaced_config_map("ns1", configmap("a"))  # None unless the answer is 201
    assert created is not None and created.metadata.namespace == "ns1"
    assert created.metadata.uid and created.metadata.resource_version and created.metadata.creation_timestamp
    with pytest.raises(kubernetes.client.ApiException) as conflict:
        core.create_namespaced_config_map("ns1", configmap("a"))
    assert conflict.value.status == 409 and json.loads(conflict.value.body)["reason"] == "AlreadyExists"
    with pytest.raises(kubernetes.client.ApiException) as missing:
        core.read_namespaced_config_map("nope", "ns1")
    assert missing.value.status == 404 and json.loads(missing.value.body)["reason"] == "NotFound"
    listing = core.list_namespaced_config_map("ns1")
    assert [c.metadata.name for c in listing.items] == ["a"]


def test_dynamic_client_discovers_builtin_and_custom_resources(api_client: kubernetes.client.ApiClient) -> None:
    dynamic = kubernetes.dynamic.DynamicClient(api_client)
    dms = dynamic.resources.get(api_version=API, kind="DialogModel")
    assert dms.namespaced and "status" in dms.subresources
    jobs = dynamic.resources.get(api_version="batch/v1", kind="Job")
    assert jobs.name == "jobs"


def test_generate_name_labels_and_generation(emu: EmulatorThread) -> None:
    c = emu.client
    made = c.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"generateName": "gen-", "namespace": "ns2",
                                                                           "labels": {"app": "x"}}}, "configmaps")
    assert made["metadata"]["name"].startswith("gen-") and len(made["metadata"]["name"]) > 4
    c.create({**configmap("other", app="y"), "metadata": {"name": "other", "namespace": "ns2", "labels": {"app": "y"}}},
             "configmaps")
    assert [o["metadata"]["name"] for o in c.list("v1", "configmaps", "ns2", "app=x")] == [made["metadata"]["name"]]
    assert len(c.list("v1", "configmaps", "ns2", "app in (x,y)")) == 2
    assert len(c.list("v1", "configmaps", "ns2", "app!=x")) == 1
    patched = c.patch("v1", "configmaps", "ns2", "other", {"data": {"k": "w"}})
    assert "generation" not in patched["metadata"]  # as on the apiserver: ConfigMaps have none
    assert int(patched["metadata"]["resourceVersion"]) > int(made["metadata"]["resourceVersion"])
    template = {"apiVersion": "v1", "kind": "PodTemplate", "metadata": {"name": "t", "namespace": "ns2"},
                "template": {"spec": {"containers": [{"name": "c", "image": "x:1"}]}}}
    assert c.create(template, "podtemplates")["metadata"]["generation"] == 1
    changed = c.patch("v1", "podtemplates", "ns2", "t", {"template": {"metadata": {"labels": {"a": "b"}}}})
    assert changed["metadata"]["generation"] == 2
    labelled = c.patch("v1", "podtemplates", "ns2", "t", {"metadata": {"labels": {"extra": "1"}}})
    assert labelled["metadata"]["generation"] == 2  # metadata changes do not bump the generation


def test_json_patch_test_failure_is_422_and_status_is_a_subresource(emu: EmulatorThread) -> None:
    c = emu.client
    c.create(dialog_model("sub", namespace="ns3"), "dialogmodels")
    with pytest.raises(ApiFailure) as failed:
        c.patch(API, "dialogmodels", "ns3", "sub", [{"op": "test", "path": "/metadata/resourceVersion", "value": "0"},
                                                    {"op": "replace", "path": "/spec/task", "value": "reranking"}])
    assert failed.value.code == 422
    # the main resource ignores status; /status changes only status
    c.patch(API, "dialogmodels", "ns3", "sub", {"status": {"phase": "Serving"}})
    assert "phase" not in (c.get(API, "dialogmodels", "ns3", "sub") or {}).get("status", {})
    after = c.patch_status(API, "dialogmodels", "ns3", "sub", {"phase": "Training", "message": "x"})
    assert after["status"]["phase"] == "Training" and after["spec"]["task"] == "retrieval"


def test_custom_resources_get_schema_defaults(emu: EmulatorThread) -> None:
    made = emu.client.create(dialog_model("defaults", namespace="ns3"), "dialogmodels")
    assert made["spec"]["serving"]["maxReplicas"] == 4
    assert made["spec"]["model"]["bert"]["maxSeqLength"] == 80
    crd = emu.client.get("apiextensions.k8s.io/v1", "customresourcedefinitions", None, "dialogmodels.rejoinder.dev")
    assert {c["type"]: c["status"] for c in crd["status"]["conditions"]}["Established"] == "True"  # type: ignore[index]


def test_deletion_waits_for_finalizers(emu: EmulatorThread) -> None:
    c = emu.client
    c.create({**configmap("held"), "metadata": {"name": "held", "namespace": "ns4", "finalizers": ["x/y"]}}, "configmaps")
    c.delete("v1", "configmaps", "ns4", "held")
    held = c.get("v1", "configmaps", "ns4", "held")
    assert held is not None and held["metadata"]["deletionTimestamp"]
    c.patch("v1", "configmaps", "ns4", "held", {"metadata": {"finalizers": None}})
    assert c.get("v1", "configmaps", "ns4", "held") is None


def _watch(emu: EmulatorThread, path: str, events: list[dict[str, Any]], ready: threading.Event) -> None:
    with urllib.request.urlopen(emu.url + path, timeout=10) as response:
        ready.set()
        for line in response:
            events.append(json.loads(line))


def test_watch_resumes_from_a_resource_version_and_misses_nothing(emu: EmulatorThread) -> None:
    c = emu.client
    first = c.create({**configmap("w1"), "metadata": {"name": "w1", "namespace": "ns5"}}, "configmaps")
    rv = first["metadata"]["resourceVersion"]
    c.patch("v1", "configmaps", "ns5", "w1", {"data": {"k": "2"}})
    c.create({**configmap("w2"), "metadata": {"name": "w2", "namespace": "ns5"}}, "configmaps")
    events: list[dict[str, Any]] = []
    ready = threading.Event()
    watcher = threading.Thread(target=_watch, args=(
        emu, f"/api/v1/namespaces/ns5/configmaps?watch=true&resourceVersion={rv}&timeoutSeconds=2", events, ready))
    watcher.start()
    ready.wait(5)
    c.delete("v1", "configmaps", "ns5", "w2")
    watcher.join(10)
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [
        ("MODIFIED", "w1"), ("ADDED", "w2"), ("DELETED", "w2")]


def test_requests_are_recorded_for_rbac(emu: EmulatorThread) -> None:
    emu.client.list("batch/v1", "jobs", "ns6")
    emu.client.patch_status(API, "dialogmodels", "ns3", "sub", {"phase": "Pending"})
    log = emu.emulator.requests_log
    assert any(r.verb == "list" and r.group == "batch" and r.resource == "jobs" and r.namespace == "ns6" for r in log)
    assert any(r.verb == "patch" and r.resource == "dialogmodels" and r.subresource == "status" for r in log)


def test_unknown_resources_and_discovery(emu: EmulatorThread) -> None:
    with pytest.raises(ApiFailure) as missing:
        emu.client.list("kubeflow.org/v2beta1", "mpijobs", "ns1")
    assert missing.value.code == 404
    assert emu.client.request("GET", "/api/v1")["groupVersion"] == "v1"
    groups = {g["name"] for g in emu.client.request("GET", "/apis/")["groups"]}
    assert {"apps", "batch", "rejoinder.dev"} <= groups


def test_kubeconfig_is_usable(emu: EmulatorThread, tmp_path: Path) -> None:
    path = emu.write_kubeconfig(tmp_path / "kubeconfig", namespace="ns1")
    client = kubernetes.config.new_client_from_config(config_file=str(path))
    names = [c.metadata.name for c in kubernetes.client.CoreV1Api(client).list_namespaced_config_map("ns1").items]
    assert "a" in names
