"""The emulator refuses and normalises what a real kube-apiserver refuses and normalises
(docs/operator.md, "Testing without a cluster"): strict JSON, built-in schemas, names, labels,
quantities, terminating namespaces, label selectors on watches, watch history and 410 Gone."""

from __future__ import annotations

import json
import threading
import urllib.request
from typing import Any, Iterator

import pytest
from k8s_emulator import ApiFailure, EmulatorThread, KubeEmulator
from k8s_emulator.quantity import canonical
from operator_e2e import API, CRD, dialog_model


@pytest.fixture(scope="module")
def emu() -> Iterator[EmulatorThread]:
    with EmulatorThread() as emulator:
        emulator.client.apply_file(CRD)
        yield emulator


def configmap(name: str, namespace: str, **labels: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": namespace, "labels": labels},
            "data": {"k": "v"}}


def pod(name: str, namespace: str, resources: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": namespace},
            "spec": {"containers": [{"name": "c", "image": "busybox:1", "resources": resources}]}}


def causes(failure: pytest.ExceptionInfo[ApiFailure]) -> list[str]:
    return [c["field"] for c in failure.value.body["details"]["causes"]]


def test_nan_and_infinity_are_not_json(emu: EmulatorThread) -> None:
    c = emu.client
    c.create(dialog_model("finite", namespace="s1"), "dialogmodels")
    for bad in (float("nan"), float("inf"), float("-inf")):
        with pytest.raises(ApiFailure) as refused:
            c.patch_status(API, "dialogmodels", "s1", "finite", {"training": {"loss": bad}})
        assert refused.value.code == 400 and refused.value.reason == "BadRequest"
    with pytest.raises(ApiFailure) as refused:
        c.create({**configmap("nan", "s1"), "data": {"k": float("nan")}}, "configmaps")  # type: ignore[dict-item]
    assert refused.value.code == 400
    assert "training" not in (c.get(API, "dialogmodels", "s1", "finite") or {}).get("status", {})


def test_builtin_objects_are_validated_against_their_schema(emu: EmulatorThread) -> None:
    c = emu.client
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d", "namespace": "s2"},
                  "spec": {"replicas": "two", "selector": {"matchLabels": {"a": "b"}},
                           "template": {"metadata": {"labels": {"a": "b"}},
                                        "spec": {"containers": [{"name": "c", "image": "x:1"}]}}}}
    with pytest.raises(ApiFailure) as refused:
        c.create(deployment, "deployments")
    assert refused.value.code == 422 and refused.value.reason == "Invalid"
    assert "spec.replicas" in causes(refused)
    misspelled = json.loads(json.dumps(deployment))
    misspelled["spec"]["replicas"] = 2
    misspelled["spec"]["template"]["spec"]["containers"][0]["imagePullPolicyy"] = "Always"
    with pytest.raises(ApiFailure) as refused:
        c.create(misspelled, "deployments")
    assert any(field.startswith("spec.template.spec.containers.0") for field in causes(refused))
    ok = json.loads(json.dumps(misspelled))
    del ok["spec"]["template"]["spec"]["containers"][0]["imagePullPolicyy"]
    assert c.create(ok, "deployments")["spec"]["replicas"] == 2
    with pytest.raises(ApiFailure) as refused:  # a patch that breaks the schema is refused too
        c.patch("apps/v1", "deployments", "s2", "d", {"spec": {"replicas": -1.5}})
    assert refused.value.code == 422


def test_quantities_are_stored_canonical_and_requests_may_not_exceed_limits(emu: EmulatorThread) -> None:
    c = emu.client
    made = c.create(pod("q", "s3", {"requests": {"cpu": 0.5, "memory": "1.5Gi"},
                                    "limits": {"cpu": "1000m", "memory": "2048Mi", "nvidia.com/gpu": 2}}), "pods")
    resources = made["spec"]["containers"][0]["resources"]
    assert resources == {"requests": {"cpu": "500m", "memory": "1536Mi"},
                         "limits": {"cpu": "1", "memory": "2Gi", "nvidia.com/gpu": "2"}}
    assert c.get("v1", "pods", "s3", "q")["spec"]["containers"][0]["resources"] == resources  # type: ignore[index]
    with pytest.raises(ApiFailure) as refused:
        c.create(pod("over", "s3", {"requests": {"memory": "2Gi"}, "limits": {"memory": "1Gi"}}), "pods")
    assert refused.value.code == 422 and "spec.containers[0].resources.requests" in causes(refused)
    with pytest.raises(ApiFailure) as refused:
        c.create(pod("bad", "s3", {"requests": {"cpu": "half"}}), "pods")
    assert refused.value.code == 422 and causes(refused) == ["spec.containers[0].resources.requests[cpu]"]


@pytest.mark.parametrize("given, stored", [
    ("0.5", "500m"), ("1000m", "1"), ("1.5Gi", "1536Mi"), ("1024Mi", "1Gi"), ("1e3", "1e3"), (2, "2"),
    ("0.0001", "1m"), ("1500", "1500"), ("2000", "2k"), ("100Mi", "100Mi"), ("1.1Gi", "1181116006400m"),
])
def test_quantity_canonical_form(given: Any, stored: str) -> None:
    assert canonical(given) == stored


@pytest.mark.parametrize("plural, obj, field", [
    ("configmaps", {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "Upper_Case"}}, "metadata.name"),
    ("configmaps", {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a" * 254}}, "metadata.name"),
    ("services", {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "1starts-with-a-digit"},
                  "spec": {"ports": [{"port": 80}]}}, "metadata.name"),
    ("services", {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s" * 64},
                  "spec": {"ports": [{"port": 80}]}}, "metadata.name"),
    ("configmaps", {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "lbl", "labels": {"a": "v" * 64}}},
     "metadata.labels.a"),
    ("configmaps", {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "lbl", "labels": {"a": "-x"}}},
     "metadata.labels.a"),
    ("jobs", {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j" * 64},
              "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "x:1"}]}}}},
     "spec.template.metadata.labels[batch.kubernetes.io/job-name]"),
])
def test_names_and_label_values_are_validated(emu: EmulatorThread, plural: str, obj: dict[str, Any], field: str) -> None:
    obj = {**obj, "metadata": {**obj["metadata"], "namespace": "s4"}}
    with pytest.raises(ApiFailure) as refused:
        emu.client.create(obj, plural)
    assert refused.value.code == 422 and field in causes(refused)


def test_custom_resource_names_are_dns_subdomains(emu: EmulatorThread) -> None:
    with pytest.raises(ApiFailure) as refused:
        emu.client.create(dialog_model("Not_A_Name", namespace="s4"), "dialogmodels")
    assert refused.value.code == 422 and "metadata.name" in causes(refused)


def test_creates_in_a_terminating_namespace_are_forbidden(emu: EmulatorThread) -> None:
    c = emu.client
    c.request("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                             "metadata": {"name": "doomed", "finalizers": ["test/hold"]}})
    c.create(configmap("before", "doomed"), "configmaps")
    c.request("DELETE", "/api/v1/namespaces/doomed")
    with pytest.raises(ApiFailure) as refused:
        c.create(configmap("after", "doomed"), "configmaps")
    assert refused.value.code == 403 and refused.value.reason == "Forbidden"
    assert "being terminated" in refused.value.body["message"]
    assert c.patch("v1", "configmaps", "doomed", "before", {"data": {"k": "w"}})["data"] == {"k": "w"}  # updates still work


def _watch(url: str, events: list[dict[str, Any]], ready: threading.Event) -> None:
    with urllib.request.urlopen(url, timeout=10) as response:
        ready.set()
        for line in response:
            events.append(json.loads(line))


def watch(emu: EmulatorThread, path: str, during: Any = None) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    ready = threading.Event()
    thread = threading.Thread(target=_watch, args=(emu.url + path, events, ready))
    thread.start()
    ready.wait(5)
    if during is not None:
        during()
    thread.join(10)
    return events


def test_watch_honours_label_selectors(emu: EmulatorThread) -> None:
    c = emu.client
    c.create(configmap("mine", "s5", owner="me"), "configmaps")
    c.create(configmap("theirs", "s5", owner="them"), "configmaps")
    events = watch(emu, "/api/v1/namespaces/s5/configmaps?watch=true&labelSelector=owner%3Dme&timeoutSeconds=1",
                   during=lambda: c.create(configmap("mine2", "s5", owner="me"), "configmaps")
                   and c.create(configmap("theirs2", "s5", owner="them"), "configmaps"))
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [("ADDED", "mine"), ("ADDED", "mine2")]


def test_watch_from_a_list_replays_what_happened_after_it() -> None:
    """Deleted after the list: delivered as DELETED. Deleted before it: simply absent."""
    with EmulatorThread() as emu:
        c = emu.client
        c.create(configmap("gone-early", "s6"), "configmaps")
        c.create(configmap("gone-late", "s6"), "configmaps")
        c.create(configmap("stays", "s6"), "configmaps")
        c.delete("v1", "configmaps", "s6", "gone-early")
        listing = c.request("GET", "/api/v1/namespaces/s6/configmaps")
        assert sorted(o["metadata"]["name"] for o in listing["items"]) == ["gone-late", "stays"]
        c.delete("v1", "configmaps", "s6", "gone-late")
        rv = listing["metadata"]["resourceVersion"]
        events = watch(emu, f"/api/v1/namespaces/s6/configmaps?watch=true&resourceVersion={rv}&timeoutSeconds=1")
        assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [("DELETED", "gone-late")]


def test_watch_from_a_compacted_resource_version_is_410_gone() -> None:
    with EmulatorThread(KubeEmulator(history_limit=5)) as emu:
        c = emu.client
        first = c.create(configmap("old", "s7"), "configmaps")
        for i in range(10):
            c.patch("v1", "configmaps", "s7", "old", {"data": {"k": str(i)}})
        rv = first["metadata"]["resourceVersion"]
        events = watch(emu, f"/api/v1/namespaces/s7/configmaps?watch=true&resourceVersion={rv}&timeoutSeconds=1")
        assert [e["type"] for e in events] == ["ERROR"]
        assert events[0]["object"]["code"] == 410 and events[0]["object"]["reason"] == "Expired"
        recent = c.request("GET", "/api/v1/namespaces/s7/configmaps")["metadata"]["resourceVersion"]
        assert watch(emu, f"/api/v1/namespaces/s7/configmaps?watch=true&resourceVersion={recent}&timeoutSeconds=1") == []


def test_lists_come_in_pages_with_limit_and_continue(emu: EmulatorThread) -> None:
    c = emu.client
    for i in range(5):
        c.create(configmap(f"page-{i}", "s8"), "configmaps")
    seen, token, pages = [], None, 0
    while True:
        params = {"limit": "2", **({"continue": token} if token else {})}
        page = c.request("GET", "/api/v1/namespaces/s8/configmaps", params=params)
        seen += [o["metadata"]["name"] for o in page["items"]]
        pages += 1
        token = page["metadata"].get("continue")
        if not token:
            break
        assert page["metadata"]["remainingItemCount"] == 5 - len(seen)
    assert pages == 3 and seen == [f"page-{i}" for i in range(5)]
