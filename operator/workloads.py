"""Reading the state of children (Jobs, MPIJobs, Deployments, pods) from their status: pure."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Mapping, Optional, Sequence

Obj = Mapping[str, Any]

# Pod waiting reasons that mean "it will not get better by itself".
_BAD_WAITING = {"ImagePullBackOff", "ErrImagePull", "InvalidImageName", "CrashLoopBackOff",
                "CreateContainerConfigError", "CreateContainerError", "RunContainerError"}


def _conditions(obj: Optional[Obj]) -> dict[str, Obj]:
    return {c.get("type"): c for c in ((obj or {}).get("status") or {}).get("conditions") or []}


def _true(cond: Optional[Obj]) -> bool:
    return bool(cond) and cond.get("status") == "True"  # type: ignore[union-attr]


@dataclass(frozen=True)
class RunState:
    state: str  # "pending" | "running" | "succeeded" | "failed"
    reason: str  # CamelCase, for a condition
    message: str


def pod_trouble(pods: Sequence[Obj]) -> Optional[RunState]:
    """Why pods are not running/ready yet, if a pod says so (scheduling, image pulls, crashes, probes)."""
    for pod in pods:
        status = pod.get("status") or {}
        conds = {c.get("type"): c for c in status.get("conditions") or []}
        sched = conds.get("PodScheduled")
        if sched and sched.get("status") == "False":
            msg = sched.get("message") or "no node fits the pod"
            reason = "WaitingForGPUNodes" if "nvidia.com/gpu" in msg else "Unschedulable"
            return RunState("pending", reason, f"pod {pod['metadata']['name']}: {msg}")
        for cs in (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or []):
            waiting = (cs.get("state") or {}).get("waiting") or {}
            if waiting.get("reason") in _BAD_WAITING:
                detail = waiting.get("message") or ""
                return RunState("pending", waiting["reason"],
                                f"pod {pod['metadata']['name']} container {cs.get('name')}: {waiting['reason']} {detail}".strip())
        ready = conds.get("Ready")
        if status.get("phase") == "Running" and ready and ready.get("status") == "False":
            for cs in status.get("containerStatuses") or []:
                if cs.get("started") and not cs.get("ready"):
                    return RunState("running", "ProbeFailing",
                                    f"pod {pod['metadata']['name']}: container {cs.get('name')} is running but its "
                                    f"readiness probe fails{': ' + ready['message'] if ready.get('message') else ''}")
    return None


def job_state(job: Obj, pods: Sequence[Obj] = ()) -> RunState:
    conds = _conditions(job)
    for failed in ("Failed", "FailureTarget"):
        if _true(conds.get(failed)):
            c = conds[failed]
            return RunState("failed", c.get("reason") or "JobFailed", c.get("message") or "the Job failed")
    for done in ("Complete", "SuccessCriteriaMet"):
        if _true(conds.get(done)):
            return RunState("succeeded", "JobSucceeded", "the Job completed")
    status = job.get("status") or {}
    trouble = pod_trouble(pods)
    if trouble is not None and trouble.state == "pending":
        return trouble
    if status.get("active") or status.get("ready"):
        failures = status.get("failed") or 0
        retry = f" (retry {failures} after a failure)" if failures else ""
        return RunState("running", "Running", f"running{retry}")
    return RunState("pending", "WaitingForPods", "waiting for the Job's pod to start")


# mpi-operator answers a spec it cannot use (an invalid name, say) with a Warning Event only: an
# MPIJob without any condition this long after its creation is not going to start.
MPIJOB_START_TIMEOUT = timedelta(minutes=10)


def _created(obj: Obj) -> Optional[datetime]:
    text = (obj.get("metadata") or {}).get("creationTimestamp")
    try:
        return datetime.fromisoformat(str(text).replace("Z", "+00:00")) if text else None
    except ValueError:
        return None


def mpijob_state(mpijob: Obj, workers: int, pods: Sequence[Obj] = (), now: Optional[datetime] = None) -> RunState:
    conds = _conditions(mpijob)
    created = _created(mpijob)
    if not conds and now is not None and created is not None and now - created > MPIJOB_START_TIMEOUT:
        name = (mpijob.get("metadata") or {}).get("name")
        return RunState("failed", "MPIJobNotStarted",
                        f"mpi-operator set no condition on MPIJob {name} within {int(MPIJOB_START_TIMEOUT.total_seconds())}s "
                        f"of its creation (is the MPI Operator running? `kubectl describe mpijob {name}` shows its Events)")
    if _true(conds.get("Failed")):
        c = conds["Failed"]
        return RunState("failed", c.get("reason") or "MPIJobFailed", c.get("message") or "the MPIJob failed")
    if _true(conds.get("Succeeded")):
        return RunState("succeeded", "JobSucceeded", "the MPIJob succeeded")
    trouble = pod_trouble(pods)
    if trouble is not None and trouble.state == "pending":
        return trouble
    if _true(conds.get("Running")):
        return RunState("running", "Running", "launcher and workers are running")
    replicas = ((mpijob.get("status") or {}).get("replicaStatuses") or {}).get("Worker") or {}
    active = replicas.get("active", 0)
    return RunState("pending", "WaitingForWorkers", f"{active} of {workers} workers ready; the launcher starts when all are")


@dataclass(frozen=True)
class RolloutState:
    complete: bool
    deadline_exceeded: bool
    message: str


def rollout_state(deployment: Obj) -> RolloutState:
    """`kubectl rollout status`, from a Deployment's status."""
    meta = deployment.get("metadata") or {}
    spec = deployment.get("spec") or {}
    status = deployment.get("status") or {}
    wanted = int(spec.get("replicas", 1))
    if int(status.get("observedGeneration", 0)) < int(meta.get("generation", 1)):
        return RolloutState(False, False, "waiting for the Deployment controller to see the new template")
    progressing = _conditions(deployment).get("Progressing")
    if progressing and progressing.get("reason") == "ProgressDeadlineExceeded":
        return RolloutState(False, True, progressing.get("message") or "progress deadline exceeded")
    updated = int(status.get("updatedReplicas", 0))
    if updated < wanted:
        return RolloutState(False, False, f"{updated} of {wanted} new replicas updated")
    total = int(status.get("replicas", 0))
    if total > updated:
        return RolloutState(False, False, f"{total - updated} old replicas are pending termination")
    available = int(status.get("availableReplicas", 0))
    if available < updated:
        return RolloutState(False, False, f"{available} of {updated} new replicas available")
    return RolloutState(True, False, f"{available} replicas available")


def pod_ready(pod: Obj) -> bool:
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        return False
    status = pod.get("status") or {}
    return status.get("phase") == "Running" and any(
        c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])
