"""`status` of a DialogModel, written only by the operator (or by local mode)."""

from __future__ import annotations

from enum import Enum
from typing import Literal, Optional

from pydantic import Field

from .base import ApiModel


class Phase(str, Enum):
    Pending = "Pending"
    Training = "Training"
    Indexing = "Indexing"
    RollingOut = "RollingOut"
    Serving = "Serving"
    Trained = "Trained"
    """Training finished and nothing is served (pretraining, or serving.enabled false)."""
    Degraded = "Degraded"
    Failed = "Failed"


class ConditionType(str, Enum):
    Trained = "Trained"
    Indexed = "Indexed"
    Available = "Available"
    Progressing = "Progressing"
    Degraded = "Degraded"
    ScalingActive = "ScalingActive"  # the request rate is read and replicas follow it (as the HPA's)
    CanaryJudged = "CanaryJudged"  # rollout.canary: False while a new version is observed, True once decided


class Condition(ApiModel):
    """A standard Kubernetes condition (metav1.Condition)."""

    type: ConditionType
    status: Literal["True", "False", "Unknown"]
    reason: str = Field(min_length=1, max_length=1024, pattern=r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$")
    """CamelCase, machine-readable (WaitingForWorkers, TrainingStep, JobFailed, ProbeFailing…)."""
    message: str = Field("", max_length=32768)
    """What a person needs to know: step N of M, the failed job's last log lines, …"""
    last_transition_time: str
    """RFC 3339 time the status last changed."""
    observed_generation: Optional[int] = Field(None, ge=0)


class TrainingProgress(ApiModel):
    step: int = Field(0, ge=0)
    total_steps: Optional[int] = Field(None, ge=0)
    loss: Optional[float] = None
    examples_per_second: Optional[float] = None


class TrainingAttempt(ApiModel):
    """Which attempt at training the latest version is current. A failed training is tried again
    (number + 1) when training.image, resources, backoffLimit, activeDeadlineSeconds or placement
    change, or the rejoinder.dev/retry annotation gets a new value."""

    version: str
    number: int = Field(1, ge=1)
    basis: str = ""
    """What the attempt ran with: a digest of the operational training fields and the retry annotation."""


class FeedbackCounts(ApiModel):
    """Reactions one version received while a canary was judged (docs/feedback.md)."""

    upvotes: int = Field(0, ge=0)
    downvotes: int = Field(0, ge=0)
    ratio: Optional[float] = Field(None, ge=0.0, le=1.0)
    """upvotes / (upvotes + downvotes); absent with no reactions."""


class PodFeedback(ApiModel):
    """A model-server pod's rejoinder_feedback_total as last read: the next reading counts what it
    added since (or all of it after the pod restarted: its counters started again from zero)."""

    pod: str
    track: Literal["stable", "canary"]
    upvotes: int = Field(0, ge=0)
    downvotes: int = Field(0, ge=0)
    restarts: int = Field(0, ge=0)


class CanaryStatus(ApiModel):
    """The last canary (rollout.canary): a new revision served beside the stable one and judged on
    its users' upvote ratio (rejoinder.feedback.canary)."""

    revision: str
    """Spec ConfigMap of the new version."""
    version: str
    stable_revision: str
    stable_version: str
    started_at: str
    """When the canary Deployment was created; reactions count from then, maxDurationSeconds too."""
    finished_at: Optional[str] = None
    outcome: Literal["Observing", "Promoted", "RolledBack", "KeptStable"] = "Observing"
    reason: str = ""
    message: str = Field("", max_length=4000)
    stable: FeedbackCounts = Field(default_factory=FeedbackCounts)
    canary: FeedbackCounts = Field(default_factory=FeedbackCounts)
    summary: str = ""
    """One line for `kubectl get`: "new 0.55 of 240 / stable 0.40 of 2100"."""
    pods: list[PodFeedback] = Field(default_factory=list, max_length=1000)


class DialogModelStatus(ApiModel):
    phase: Phase = Phase.Pending
    message: str = ""
    """One line on what is happening now."""
    conditions: list[Condition] = Field(default_factory=list)
    observed_generation: Optional[int] = Field(None, ge=0)
    latest_version: Optional[str] = None
    """Model version the current spec asks for (a hash of the training-relevant spec)."""
    trained_version: Optional[str] = None
    """Newest version whose training finished."""
    serving_version: Optional[str] = None
    """Version the model servers run now."""
    last_good_version: Optional[str] = None
    """Version rolled back to when a rollout fails."""
    failed_version: Optional[str] = None
    """Version whose rollout failed and was rolled back; it is not rolled out again (change the
    spec to get a new version)."""
    serving_revision: Optional[str] = None
    """Spec ConfigMap the model servers run now: a serving-only or index-only change is a new
    revision of the same version, rolled out (and rolled back) like a new version."""
    last_good_revision: Optional[str] = None
    """Revision rolled back to when a rollout fails."""
    failed_revision: Optional[str] = None
    """Revision whose rollout failed and was rolled back; not rolled out again (change the spec)."""
    training: Optional[TrainingProgress] = None
    training_attempt: Optional[TrainingAttempt] = None
    metrics: dict[str, float] = Field(default_factory=dict)
    """Evaluation metrics of the trained version (map, recall@5, accuracy, …)."""
    replicas: int = Field(0, ge=0)
    ready_replicas: int = Field(0, ge=0)
    rps: float = Field(0.0, ge=0.0)
    """Requests per second over all ready model-server replicas."""
    endpoint: Optional[str] = None
    """gRPC endpoint of the model service (host:port)."""
    canary: Optional[CanaryStatus] = None
    """The canary under way, or the last one judged (rollout.canary)."""
