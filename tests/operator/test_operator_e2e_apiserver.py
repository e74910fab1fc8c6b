"""The real operator against the strict emulator where the apiserver says no: a child it refuses
(422) becomes a condition with the apiserver's words and is not retried in a loop; deleting a
model in a namespace being deleted finishes instead of holding the finalizer forever; a model
with the longest name the CRD accepts gets children the apiserver takes."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Iterator

import pytest
from k8s_emulator import EmulatorThread, KubeEmulator
from operator_e2e import (API, condition, dialog_model, emulator_with_operator, get_model, install_crd, jobs,
                          running_operator, status_of, wait_for)

from rejoinder.operator import names


@pytest.fixture(scope="module")
def emu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorThread]:
    with emulator_with_operator(tmp_path_factory.mktemp("kube")) as emulator:
        yield emulator


def _creates(emu: EmulatorThread, namespace: str, resource: str) -> int:
    return sum(1 for r in emu.emulator.requests_log
               if r.verb == "create" and r.resource == resource and r.namespace == namespace
               and r.user_agent.startswith("rejoinder-operator"))


def test_a_refused_child_becomes_a_condition_with_the_apiservers_message(emu: EmulatorThread) -> None:
    dm = dialog_model("refused", namespace="rj1",
                      training={"resources": {"requests": {"memory": "2Gi"}, "limits": {"memory": "1Gi"}}})
    emu.client.create(dm, "dialogmodels")
    status = wait_for(lambda: (s := status_of(emu, "rj1", "refused")) and condition(s, "Trained").get("reason") == "ChildRejected" and s,
                      "the refusal in status")
    trained = condition(status, "Trained")
    assert "422 Invalid" in trained["message"] and "must be less than or equal to memory limit" in trained["message"]
    assert status["phase"] == "Failed" and condition(status, "Degraded")["reason"] == "ChildRejected"
    assert not jobs(emu, "rj1", "refused", names.COMPONENT_TRAIN)
    attempts = _creates(emu, "rj1", "jobs")
    time.sleep(3)  # six resyncs at 0.5 s
    assert _creates(emu, "rj1", "jobs") == attempts == 1, "the refused Job was created again and again"
    # fixing the spec creates the Job at once
    emu.client.patch(API, "dialogmodels", "rj1", "refused", {"spec": {"training": {"resources": {"limits": {"memory": "4Gi"}}}}})
    wait_for(lambda: jobs(emu, "rj1", "refused", names.COMPONENT_TRAIN), "the training Job after the fix")
    wait_for(lambda: condition(status_of(emu, "rj1", "refused"), "Trained").get("reason") != "ChildRejected", "the condition to clear")


def test_deleting_a_model_in_a_terminating_namespace_does_not_hang(emu: EmulatorThread) -> None:
    c = emu.client
    c.request("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                             "metadata": {"name": "rj2", "finalizers": ["test/hold"]}})
    c.create(dialog_model("doomed", namespace="rj2", storage={"keepOnDelete": False}), "dialogmodels")
    wait_for(lambda: (get_model(emu, "rj2", "doomed") or {}).get("metadata", {}).get("finalizers"), "the finalizer")
    c.request("DELETE", "/api/v1/namespaces/rj2")  # the namespace controller then deletes everything in it
    c.delete(API, "dialogmodels", "rj2", "doomed")
    wait_for(lambda: get_model(emu, "rj2", "doomed") is None, "the DialogModel to go", timeout=15)
    assert not jobs(emu, "rj2", "doomed", names.COMPONENT_CLEANUP)


def test_the_longest_model_name_gets_children_the_apiserver_accepts(emu: EmulatorThread) -> None:
    long_name = "9" + "x" * 62  # 63 characters, starting with a digit: the CRD accepts it
    emu.client.create(dialog_model(long_name, namespace="rj3"), "dialogmodels")
    job = wait_for(lambda: jobs(emu, "rj3", long_name, names.COMPONENT_TRAIN), "the training Job")[0]
    assert len(job["metadata"]["name"]) <= 63
    assert condition(status_of(emu, "rj3", long_name), "Trained").get("reason") in ("JobCreated", "WaitingForPods")


CHILDREN = {("", "configmaps"), ("batch", "jobs"), ("apps", "deployments"), ("", "services"),
            ("policy", "poddisruptionbudgets"), ("", "pods")}


def test_children_are_listed_and_watched_with_a_server_side_label_selector(emu: EmulatorThread) -> None:
    """kopf would otherwise list and watch every Pod and ConfigMap of the cluster and filter them itself."""
    def reads() -> list:
        return [r for r in list(emu.emulator.requests_log)
                if r.verb in ("list", "watch") and (r.group, r.resource) in CHILDREN and r.user_agent.startswith("kopf")]

    wait_for(lambda: {(r.group, r.resource) for r in reads() if r.verb == "watch"} == CHILDREN, "kopf's watches")
    unscoped = sorted({(r.verb, r.resource) for r in reads()
                       if f"{names.LABEL_MANAGED_BY}={names.MANAGED_BY}" not in r.label_selector})
    assert unscoped == []
    pages = {str(r.url.path) for r in emu.emulator._requests if not r.params.get("watch") and r.params.get("limit")}
    assert "/api/v1/pods" in pages, "kopf's initial lists are not chunked"


def test_the_operator_copes_with_compacted_watches(tmp_path: Path) -> None:
    """Watches closed while much else happens: kopf resumes from a compacted resourceVersion, gets
    an ERROR event with 410 Gone, lists again and goes on; a child deleted meanwhile is recreated."""
    with EmulatorThread(KubeEmulator(history_limit=30)) as emu:
        install_crd(emu)
        with running_operator(emu, tmp_path):
            emu.client.create(dialog_model("survivor", namespace="rj4"), "dialogmodels")
            [job] = wait_for(lambda: jobs(emu, "rj4", "survivor", names.COMPONENT_TRAIN), "the training Job")
            for i in range(40):  # more writes than the history keeps
                emu.client.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"noise-{i}", "namespace": "rj4"}},
                                  "configmaps")
            emu.client.delete("batch/v1", "jobs", "rj4", job["metadata"]["name"])
            assert emu.call(emu.emulator.end_watches) > 0
            wait_for(lambda: [j for j in jobs(emu, "rj4", "survivor", names.COMPONENT_TRAIN)
                              if j["metadata"]["uid"] != job["metadata"]["uid"]], "the training Job to be recreated")
            wait_for(lambda: emu.emulator.expired_watches > 0, "a watch resumed from a compacted resourceVersion")
            emu.client.create(dialog_model("newcomer", namespace="rj4"), "dialogmodels")
            wait_for(lambda: jobs(emu, "rj4", "newcomer", names.COMPONENT_TRAIN), "a newcomer's Job after the relist")
