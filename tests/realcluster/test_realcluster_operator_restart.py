"""The operator SIGKILLed in the middle of a rollout and started again resumes where it was: it
creates no second Job (the names are deterministic, and it does not even try), keeps the
Deployment, loses nothing of the status, and finishes the rollout."""

from __future__ import annotations

import pytest
from kubernetes import client

from rejoinder.operator import names
from tests.controlplane import audit, kwok
from tests.controlplane.cluster import ControlPlane
from tests.controlplane.kube import raw
from tests.realcluster import dialogmodels as dm
from tests.realcluster.chart import Release
from tests.realcluster.operator_process import OperatorProcess

pytestmark = pytest.mark.realcluster


def uids(api: client.ApiClient, namespace: str, model: str, kind: str) -> dict[str, str]:
    return {o["metadata"]["name"]: o["metadata"]["uid"] for o in dm.children(api, namespace, model, kind)}


def test_a_killed_operator_resumes_the_rollout(control_plane: ControlPlane, chart: Release, namespace: str,
                                              artifacts: str, operator: OperatorProcess,
                                              training_results: dict[str, float]) -> None:
    api = control_plane.api()
    servers = {names.LABEL_MODEL: "theta", names.LABEL_COMPONENT: names.COMPONENT_SERVER}
    with kwok.pods_unready(api, namespace, servers):
        dm.create(api, namespace, dm.small("theta", artifacts))
        dm.wait_status(api, namespace, "theta", lambda s: s.get("phase") == "RollingOut"
                       and dm.condition(s, "Progressing").get("reason") == "ProbeFailing", "a stuck rollout")
        operator.kill()
        before = dm.status(api, namespace, "theta")  # what the killed operator left
        jobs, deployments = uids(api, namespace, "theta", "Job"), uids(api, namespace, "theta", "Deployment")
        assert before["phase"] == "RollingOut" and len(jobs) == 2 and len(deployments) == 1
        restarted = audit.AuditLog(control_plane.audit.log).mark()
        operator.start()
        operator.wait_reconciles(3)
        assert dm.status(api, namespace, "theta")["phase"] == "RollingOut"
    # the readiness probe passes now: the stuck pods are replaced by ones that become Ready
    core = client.CoreV1Api(api)
    for pod in dm.component(dm.children(api, namespace, "theta", "Pod"), names.COMPONENT_SERVER):
        raw(core.delete_namespaced_pod, pod["metadata"]["name"], namespace)
    after = dm.wait_phase(api, namespace, "theta", "Serving")

    assert uids(api, namespace, "theta", "Job") == jobs and uids(api, namespace, "theta", "Deployment") == deployments
    creates = [r for r in restarted.requests(chart.user) if r.verb == "create" and r.resource != "events"]
    assert creates == [], "\n".join(map(str, creates))  # it found everything it had made
    assert after["trainedVersion"] == before["trainedVersion"] and after["metrics"] == before["metrics"]
    assert dm.condition(after, "Trained") == dm.condition(before, "Trained")  # same transition time: not redone
