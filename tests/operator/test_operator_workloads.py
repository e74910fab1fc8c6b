"""Reading children's status: Jobs, MPIJobs, Deployments and pods (pure functions)."""

from __future__ import annotations

from typing import Any

from rejoinder.operator.workloads import job_state, mpijob_state, pod_ready, pod_trouble, rollout_state


def pod(name: str = "p", phase: str = "Running", ready: bool = True, **status: Any) -> dict[str, Any]:
    return {"metadata": {"name": name}, "status": {
        "phase": phase, "conditions": [{"type": "Ready", "status": "True" if ready else "False"}], **status}}


def test_pod_trouble_names_the_reason() -> None:
    pulling = pod(ready=False, phase="Pending", containerStatuses=[
        {"name": "trainer", "state": {"waiting": {"reason": "ImagePullBackOff", "message": "pull access denied"}}}])
    trouble = pod_trouble([pulling])
    assert trouble is not None and trouble.reason == "ImagePullBackOff" and "pull access denied" in trouble.message
    probing = pod(ready=False, containerStatuses=[{"name": "model-server", "started": True, "ready": False}])
    trouble = pod_trouble([probing])
    assert trouble is not None and trouble.reason == "ProbeFailing" and "model-server" in trouble.message
    assert pod_trouble([pod()]) is None


def test_job_states() -> None:
    assert job_state({"status": {}}).state == "pending"
    assert job_state({"status": {"active": 1}}).state == "running"
    retried = job_state({"status": {"active": 1, "failed": 1}})
    assert "retry 1" in retried.message
    assert job_state({"status": {"conditions": [{"type": "Complete", "status": "True"}]}}).state == "succeeded"
    failed = job_state({"status": {"conditions": [{"type": "Failed", "status": "True", "reason": "DeadlineExceeded",
                                                   "message": "Job was active longer than specified deadline"}]}})
    assert (failed.state, failed.reason) == ("failed", "DeadlineExceeded")


def test_mpijob_states() -> None:
    waiting = mpijob_state({"status": {"replicaStatuses": {"Worker": {"active": 1}}}}, workers=4)
    assert (waiting.reason, "1 of 4 workers" in waiting.message) == ("WaitingForWorkers", True)
    assert mpijob_state({"status": {"conditions": [{"type": "Running", "status": "True"}]}}, 4).state == "running"
    assert mpijob_state({"status": {"conditions": [{"type": "Failed", "status": "True"}]}}, 4).state == "failed"


def dep(generation: int = 2, **status: Any) -> dict[str, Any]:
    return {"metadata": {"generation": generation}, "spec": {"replicas": 3}, "status": status}


def test_rollout_state_like_kubectl_rollout_status() -> None:
    assert not rollout_state(dep(observedGeneration=1)).complete
    assert "1 of 3 new replicas updated" in rollout_state(dep(observedGeneration=2, updatedReplicas=1)).message
    old = rollout_state(dep(observedGeneration=2, updatedReplicas=3, replicas=4, availableReplicas=3))
    assert not old.complete and "old replicas" in old.message
    assert rollout_state(dep(observedGeneration=2, updatedReplicas=3, replicas=3, availableReplicas=3)).complete
    late = rollout_state(dep(observedGeneration=2, conditions=[
        {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded", "message": "timed out"}]))
    assert late.deadline_exceeded


def test_pod_ready() -> None:
    assert pod_ready(pod())
    assert not pod_ready(pod(ready=False))
    terminating = pod()
    terminating["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    assert not pod_ready(terminating)
