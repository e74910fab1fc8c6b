"""The planner: spec + observed children → desired children, deletions, status and events.

A pure function of its inputs (time is an input too), so every decision of the operator is
unit-tested without Kubernetes. The pipeline of a model version:

    ConfigMap (the spec) → training Job or MPIJob → index Job (retrieval) → Deployment rollout

A version being trained or indexed never disturbs the one being served; a rollout that misses
its progress deadline is rolled back to the last good version; a quality gate can refuse one.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Mapping, Optional, Sequence

from rejoinder.api.spec import AutoscalingEngine
from rejoinder.api.status import ConditionType, DialogModelStatus, Phase, TrainingAttempt, TrainingProgress
from rejoinder.api.versioning import index_version, model_version, training_operations
from rejoinder.feedback.records import served_version
from rejoinder.pipeline.conditions import Conditions, Transition, parse_rfc3339, rfc3339
from rejoinder.pipeline.stages import Stage, builds_index, serves
from rejoinder.pipeline.transitions import AVAILABLE, FAILED, FINISHED, HEALTHY, ROLLED_OUT, STARTED, WAITING, set_marks
from rejoinder.progress_lines import START_PREFIX

from . import canary, child_kinds, children, names, rejections, scaling_objects
from .children import ParsedDialogModel
from .quantities import same_quantity
from .progress import final_metrics, finite, last_lines, last_progress, split_finite, termination_messages
from .settings import OperatorSettings
from .workloads import job_state, mpijob_state, pod_trouble, rollout_state

Obj = Mapping[str, Any]

# How long after data.reactionsFrom.until a reranker's training starts: servers' clocks stamp the
# reactions, and a record acknowledged just before the cutoff may still be on its way to a
# shared volume. (The trainer itself refuses only an until that its own clock has not reached.)
REACTIONS_SETTLE = timedelta(seconds=60)


@dataclass(frozen=True)
class Observed:
    """What exists now (from the operator's watches) for one DialogModel."""

    config_maps: Mapping[str, Obj] = field(default_factory=dict)  # by name
    jobs: Mapping[str, Obj] = field(default_factory=dict)  # batch/v1 Jobs by name
    mpijobs: Mapping[str, Obj] = field(default_factory=dict)  # MPIJobs by name
    mpijob_supported: bool = True  # the kubeflow.org/v2beta1 MPIJob API is served
    deployment: Optional[Obj] = None
    service: Optional[Obj] = None
    pdb: Optional[Obj] = None
    pods: Sequence[Obj] = ()  # this model's pods (all components)
    training_log: Optional[str] = None  # tail of the latest version's rank-0 training log
    index_log: Optional[str] = None  # tail of the latest index Job's log
    init_model_trained: Optional[bool] = None  # spec.model.init.dialogModel trained yet (None: no such init)
    negatives_model_trained: Optional[bool] = None  # spec.data.negativesFrom trained yet (None: not set)
    reactions_model_trained: Optional[bool] = None  # spec.data.reactionsFrom's model trained yet (None: not set)
    hpa: Optional[Obj] = None  # the HorizontalPodAutoscaler named after the server, if any
    scaled_object: Optional[Obj] = None  # the KEDA ScaledObject named after the server, if any
    keda_supported: bool = False  # the keda.sh/v1alpha1 ScaledObject API is served
    retry: Optional[str] = None  # the DialogModel's rejoinder.dev/retry annotation
    rejected: Mapping[rejections.Key, rejections.Rejection] = field(default_factory=dict)  # refused creates
    canary_deployment: Optional[Obj] = None  # `<model>-canary` (rollout.canary)
    headless_service: Optional[Obj] = None  # `<model>-headless`
    feedback: Sequence[canary.PodSeen] = ()  # ready server pods' feedback counters, while a canary is observed
    reranker_version: Optional[str] = None  # the newest trained version of spec.serving.reranker


@dataclass(frozen=True)
class Ref:
    api_version: str
    plural: str
    name: str


@dataclass(frozen=True)
class Plan:
    create: list[dict[str, Any]]  # objects that do not exist (an AlreadyExists answer is fine)
    patch: list[dict[str, Any]]  # objects whose managed fields differ (merge-patched)
    delete: list[Ref]
    status: dict[str, Any]  # the complete new status (wire format)
    events: list[Transition]




def _ref(kind: str, name: str) -> Ref:
    child = child_kinds.of(kind)
    return Ref(child.api_version, child.plural, name)


_CREATE_ONLY = {"Job", "MPIJob", "ConfigMap"}  # Jobs' pod templates and spec ConfigMaps are immutable


_QUANTITY_MAPS = ("requests", "limits")  # containers' resources: the apiserver stores canonical quantities


def is_subset(desired: Any, actual: Any, quantities: bool = False) -> bool:
    """True when every field of `desired` has the same value in `actual` (defaults may add more).

    Resource quantities compare by value: the apiserver stores `0.5` as `500m` and `1.5Gi` as `1536Mi`."""
    if isinstance(desired, Mapping) and quantities:
        return isinstance(actual, Mapping) and all(k in actual and same_quantity(v, actual[k]) for k, v in desired.items())
    if isinstance(desired, Mapping):
        return isinstance(actual, Mapping) and all(
            k in actual and is_subset(v, actual[k], quantities=k in _QUANTITY_MAPS) for k, v in desired.items())
    if isinstance(desired, list):
        return isinstance(actual, list) and len(desired) == len(actual) and all(
            is_subset(d, a) for d, a in zip(desired, actual))
    if isinstance(desired, (int, float)) and isinstance(actual, str) or isinstance(desired, str) and isinstance(actual, (int, float)):
        return str(desired) == str(actual)
    return desired == actual


def _annotation(obj: Optional[Obj], key: str) -> Optional[str]:
    return ((obj or {}).get("metadata") or {}).get("annotations", {}).get(key) if obj else None


def _metrics_annotation(obj: Optional[Obj], key: str) -> dict[str, float]:
    raw = _annotation(obj, key)
    try:
        return {k: float(v) for k, v in json.loads(raw).items()} if raw else {}
    except (ValueError, AttributeError):
        return {}


def start_gain_refusal(metric: str, min_gain: Optional[float], metrics: dict[str, float]) -> Optional[tuple[str, str]]:
    """(reason, message) when a version's `metric` did not gain `min_gain` over its untrained
    start (`init_<metric>` in the same metrics), None when it did or no minimum is asked."""
    if min_gain is None:
        return None
    value, start = metrics.get(metric), metrics.get(START_PREFIX + metric)
    if value is None or start is None:
        return ("MetricsMissing", f"reported no {metric} and {START_PREFIX}{metric} to compare with its start")
    if value - start < min_gain:
        return ("QualityGateFailed", f"gained {value - start:+.4f} {metric} over its untrained start "
                                     f"({value:.4f} vs {start:.4f}); at least {min_gain} is required")
    return None


_parse_time = parse_rfc3339


def _pods(observed: Observed, component: str, version: Optional[str] = None) -> list[Obj]:
    out = []
    for pod in observed.pods:
        labels = (pod.get("metadata") or {}).get("labels") or {}
        if labels.get(names.LABEL_COMPONENT) == component and (version is None or labels.get(names.LABEL_VERSION) == version):
            out.append(pod)
    return out


def _job_name(pod: Obj) -> Optional[str]:
    """The Job or MPIJob a pod belongs to, from the labels their controllers set."""
    labels = (pod.get("metadata") or {}).get("labels") or {}
    return labels.get("batch.kubernetes.io/job-name") or labels.get("job-name") or labels.get("training.kubeflow.org/job-name")


def _fmt(value: Optional[float], digits: int = 4) -> str:
    return "?" if value is None else f"{value:.{digits}g}"


class _Planner:
    def __init__(self, model: ParsedDialogModel, status: DialogModelStatus, observed: Observed,
                 settings: OperatorSettings, now: datetime):
        self.model, self.spec, self.obs, self.settings, self.now = model, model.spec, observed, settings, now
        self.old = status
        self.new = status.model_copy(deep=True)
        self.conds = Conditions(list(status.conditions), now, model.generation)
        self.latest = model_version(model.spec)
        self.index_ver = index_version(model.spec)
        self.revision = children.spec_config_map_name(model, self.latest)
        self.desired: list[dict[str, Any]] = []
        self.deletes: list[Ref] = []
        self.problem: Optional[str] = None  # a failure that blocks the pipeline (phase Failed/Degraded)
        self.problem_reason: Optional[str] = None  # its Degraded reason, when no stage condition names it
        self.refused_keys: set[rejections.Key] = set()  # refused creates not to repeat yet
        self.activity: Optional[Phase] = None  # what the pipeline is doing (Pending/Training/Indexing/RollingOut)
        self.degraded: Optional[tuple[str, str]] = None  # (reason, message) found by this run

    # --- stages -------------------------------------------------------------------------------

    def run(self) -> Plan:
        self.new.latest_version = self.latest
        self.new.observed_generation = self.model.generation
        if not self.spec.storage.persistent_volume_claim:
            msg = "spec.storage.persistentVolumeClaim is required: training, indexing and serving share artifacts on it"
            self.conds.set(ConditionType.Trained, False, "NoStorage", msg)
            self.problem = msg
            return self.finish(serving=False)
        self.desired.append(children.spec_config_map(self.model, self.latest))
        trained = self.training()
        indexed = self.indexing() if trained else not builds_index(self.spec)
        if not indexed and not trained:
            set_marks(self.conds, [WAITING[Stage.build_index]], f"version {self.latest} is not trained yet")
        self.serving(ready=trained and indexed)
        self.garbage()
        self.refused()
        return self.finish(serving=self.servable)

    def refused(self) -> None:
        """Children the apiserver refused: their condition says why, in the apiserver's words."""
        existing = {(o["kind"], o["metadata"]["name"]) for o in self._existing_objects()}
        for obj in self.desired:
            if rejections.key_of(obj) in existing:
                continue
            found = rejections.still_refused(obj, children.content_hash(obj), self.obs.rejected, self.now)
            if found is not None:
                message = rejections.describe(obj, found)
                self.conds.set(rejections.condition_for(obj), False, "ChildRejected", message)
                self.problem, self.problem_reason, self.activity = message, "ChildRejected", None
                self.refused_keys.add(rejections.key_of(obj))

    @property
    def servable(self) -> bool:
        return serves(self.spec)

    def training(self) -> bool:
        if self.old.trained_version == self.latest:
            c = self.conds.get(ConditionType.Trained)
            if c is None or c.status != "True":
                set_marks(self.conds, FINISHED[Stage.train], f"version {self.latest} is trained")
            return True
        if self.obs.init_model_trained is False:
            init = self.spec.model.init.dialog_model  # type: ignore[union-attr]
            self.conds.set(ConditionType.Trained, False, "WaitingForInitModel",
                           f"waiting for DialogModel {init} (pretraining) to finish training: its encoder is the starting point")
            self.activity = Phase.Pending
            return False
        if self.obs.negatives_model_trained is False:
            source = self.spec.data.negatives_from
            self.conds.set(ConditionType.Trained, False, "WaitingForNegativesModel",
                           f"waiting for DialogModel {source} (retrieval) to finish training: its hard negatives "
                           "are this reranker's proxy reactions")
            self.activity = Phase.Pending
            return False
        if self.obs.reactions_model_trained is False:
            source = self.spec.data.reactions_from.dialog_model  # type: ignore[union-attr]
            self.conds.set(ConditionType.Trained, False, "WaitingForReactionsModel",
                           f"waiting for DialogModel {source} (retrieval) to be trained: users' reactions to its "
                           "answers are this reranker's training data")
            self.activity = Phase.Pending
            return False
        cutoff = self.spec.data.reactions_from.until if self.spec.data.reactions_from is not None else None
        if cutoff is not None and self.now < cutoff + REACTIONS_SETTLE:
            self.conds.set(ConditionType.Trained, False, "WaitingForReactionsCutoff",
                           f"data.reactionsFrom.until {rfc3339(cutoff)} has not passed by {int(REACTIONS_SETTLE.total_seconds())}s: "
                           "reactions acknowledged before it may still be written; training starts then")
            self.activity = Phase.Pending
            return False
        multi = self.spec.training.workers > 1
        attempt = self.attempt()
        name = names.training_workload(self.model.name, self.latest, self.spec.training.workers, attempt.number)
        if multi and not self.obs.mpijob_supported:
            msg = (f"training with {self.spec.training.workers} workers needs Kubeflow's MPIJob "
                   "(kubeflow.org/v2beta1), which this cluster does not serve: install the MPI Operator "
                   "or set training.workers to 1")
            self.conds.set(ConditionType.Trained, False, "MPIJobCRDMissing", msg)
            self.problem = msg
            return False
        workloads = self.obs.mpijobs if multi else self.obs.jobs
        workload = workloads.get(name)
        basis = self.attempt_basis()
        if workload is not None and attempt.basis != basis and self._workload_failed(workload, multi):
            # the failed attempt's way of running was changed (or a retry asked for): try again
            attempt = TrainingAttempt(version=self.latest, number=attempt.number + 1, basis=basis)
            name = names.training_workload(self.model.name, self.latest, self.spec.training.workers, attempt.number)
            workload = workloads.get(name)
        self.new.training_attempt = attempt
        desired = children.training_workload(self.model, self.latest, self.settings, attempt.number)
        self.desired.append(desired)
        if workload is None:
            again = f" (attempt {attempt.number})" if attempt.number > 1 else ""
            set_marks(self.conds, [STARTED[Stage.train]], f"created {desired['kind']} {name} for version {self.latest}{again}")
            self.activity = Phase.Training
            self.new.training = TrainingProgress(step=0)
            return False
        pods = [p for p in _pods(self.obs, names.COMPONENT_TRAIN, self.latest) if _job_name(p) in (None, name)]
        state = mpijob_state(workload, self.spec.training.workers, pods, self.now) if multi else job_state(workload, pods)
        log = self.obs.training_log or ""
        if state.state == "succeeded":
            # the termination message first: a log tail cut short by NCCL output may lose the line
            raw_metrics = final_metrics(termination_messages(pods)) or final_metrics(log) or {}
            metrics, diverged = split_finite(raw_metrics)
            progress = last_progress(log)
            if progress is not None and progress.loss is not None and finite(progress.loss) is None:
                diverged.append("loss")
            if diverged:
                return self.diverged(desired, name, raw_metrics, diverged)
            self.new.trained_version = self.latest
            self.new.metrics = metrics
            if progress is not None:
                self.new.training = TrainingProgress(step=progress.total or progress.step, total_steps=progress.total,
                                                     loss=progress.loss, examples_per_second=progress.examples_per_sec)
            shown = ", ".join(f"{k}={_fmt(v)}" for k, v in sorted((metrics or {}).items()))
            set_marks(self.conds, FINISHED[Stage.train],
                      f"version {self.latest} trained" + (f": {shown}" if shown else
                                                          " (no REJOINDER_METRICS line in the training log)"))
            return True
        if state.state == "failed":
            tail = last_lines(log)
            msg = (f"{desired['kind']} {name} failed ({state.reason}: {state.message}). To try again, change "
                   f"training.image, resources, backoffLimit or activeDeadlineSeconds, or set the annotation "
                   f"{names.ANN_RETRY} to a new value")
            if tail:
                msg += f"; last log lines:\n{tail}"
            set_marks(self.conds, [FAILED[Stage.train]], msg)
            self.problem = f"training of {self.latest} failed: {state.reason}"
            return False
        self.activity = Phase.Training
        progress = last_progress(log)
        if state.state == "running" and progress is not None:
            loss = finite(progress.loss)
            self.new.training = TrainingProgress(step=progress.step, total_steps=progress.total, loss=loss,
                                                 examples_per_second=finite(progress.examples_per_sec))
            total = progress.total or "?"
            diverging = progress.loss is not None and loss is None
            self.conds.set(ConditionType.Trained, False, "TrainingDiverged" if diverging else "TrainingStep",
                           f"step {progress.step} of {total}, loss {progress.loss if diverging else _fmt(loss)}"
                           + (" (training diverged)" if diverging else "")
                           + f", {_fmt(finite(progress.examples_per_sec))} examples/s (version {self.latest})")
        else:
            self.conds.set(ConditionType.Trained, False, state.reason, f"{state.message} (version {self.latest})")
        return False

    def diverged(self, desired: Obj, name: str, raw: Mapping[str, float], bad: list[str]) -> bool:
        """Training finished with NaN/Infinity results: not a usable version, and no such number in status."""
        shown = ", ".join(f"{k}={raw.get(k, 'non-finite')}" for k in bad)
        msg = (f"{desired['kind']} {name} finished but training diverged: {shown} "
               "(non-finite values are left out of status; lower the learning rate or check the data)")
        self.conds.set(ConditionType.Trained, False, "TrainingDiverged", msg)
        self.problem = f"training of {self.latest} diverged ({', '.join(bad)} not finite)"
        self.new.training = None
        return False

    def attempt_basis(self) -> str:
        return training_operations(self.spec) + (f"/{self.obs.retry}" if self.obs.retry else "")

    def attempt(self) -> TrainingAttempt:
        old = self.old.training_attempt
        if old is not None and old.version == self.latest:
            return old
        return TrainingAttempt(version=self.latest, number=1, basis=self.attempt_basis())

    def _workload_failed(self, workload: Obj, multi: bool) -> bool:
        state = mpijob_state(workload, self.spec.training.workers, now=self.now) if multi else job_state(workload)
        return state.state == "failed"

    def indexing(self) -> bool:
        if not builds_index(self.spec):
            return True
        name = names.index_job(self.model.name, self.index_ver)
        self.desired.append(children.index_job(self.model, self.latest, self.index_ver, self.settings))
        job = self.obs.jobs.get(name)
        if job is None:
            set_marks(self.conds, [STARTED[Stage.build_index]], f"building index {self.index_ver}")
            self.activity = Phase.Indexing
            return False
        state = job_state(job, [p for p in _pods(self.obs, names.COMPONENT_INDEX, self.latest)])
        if state.state == "succeeded":
            c = self.conds.get(ConditionType.Indexed)
            if c is None or c.status != "True" or self.index_ver not in c.message:
                set_marks(self.conds, FINISHED[Stage.build_index], f"index {self.index_ver} built for {self.latest}")
            return True
        if state.state == "failed":
            tail = last_lines(self.obs.index_log or "")
            set_marks(self.conds, [FAILED[Stage.build_index]],
                      f"Job {name} failed ({state.reason}: {state.message})" + (f"; last log lines:\n{tail}" if tail else ""))
            self.problem = f"index build for {self.latest} failed"
            return False
        self.activity = Phase.Indexing
        self.conds.set(ConditionType.Indexed, False, "Indexing" if state.state == "running" else state.reason,
                       f"{state.message} (index {self.index_ver})")
        return False

    # --- serving ------------------------------------------------------------------------------

    def serving(self, ready: bool) -> None:
        dep = self.obs.deployment
        if not self.servable:
            for kind, obj in (("Deployment", dep), ("Service", self.obs.service), ("PodDisruptionBudget", self.obs.pdb),
                              ("Deployment", self.obs.canary_deployment), ("Service", self.obs.headless_service)):
                if obj is not None:
                    self.deletes.append(_ref(kind, obj["metadata"]["name"]))
            self.autoscaling(want=False)
            self.new.serving_version = self.new.serving_revision = None
            self.new.endpoint = None
            self.new.replicas = self.new.ready_replicas = 0
            return
        deployed = _annotation(dep, names.ANN_VERSION)
        deployed_rev = children.mounted_spec(dep) if dep is not None else None
        serving_rev = self.old.serving_revision
        if serving_rev is None and self.old.serving_version and deployed == self.old.serving_version:
            serving_rev = deployed_rev  # a status written before revisions were tracked
        good_rev = self.old.last_good_revision or serving_rev
        self.new.serving_revision, self.new.last_good_revision = serving_rev, good_rev
        # A revision is the whole spec: it is ready once its version is trained and its index built.
        candidate = self.revision if ready else None
        if candidate is not None and candidate == self.old.failed_revision:
            candidate = None
            self.degraded = ("RolledBack",
                             f"this spec (version {self.latest}, {self.revision}) failed its rollout and was rolled back; "
                             f"serving {self.old.serving_version}. Change the spec to roll out again")
        # The gate holds back every new version; with no version served yet only its gain over
        # the untrained start can refuse it (there is nothing to regress from).
        gated = candidate is not None and self.latest != deployed and not self.gate_passes(dep)
        if gated:
            candidate = None
        target_rev = self.canary(candidate, deployed_rev, deployed, serving_rev) or deployed_rev
        target_model = self.model_of(target_rev)
        if target_rev is None or target_model is None:
            if dep is None:
                set_marks(self.conds, [WAITING[Stage.serve]],
                          "no version passed the quality gate yet" if gated else "no version is trained yet")
                return
            # what runs was deployed from a ConfigMap that is gone: leave the Deployment as it is
            self.desired += [children.server_service(self.model), children.headless_service(self.model),
                             children.server_pdb(self.model)]
            self.autoscaling(want=True)
            self.availability(dep)
            return
        target = model_version(target_model.spec)
        annotations = self.deployment_annotations(dep, deployed_rev, target_rev, target)
        deployment = self.deployment(target_model, target, annotations)
        if deployed_rev == target_rev and target_rev != serving_rev:  # a rollout of `target_rev` is under way
            state = rollout_state(dep)  # type: ignore[arg-type]
            started = _parse_time(annotations.get(names.ANN_ROLLOUT_STARTED))
            deadline = timedelta(seconds=self.spec.rollout.progress_deadline_seconds)
            late = started is not None and self.now - started > deadline
            what = f"version {target}" if target != self.old.serving_version else f"version {target} ({target_rev})"
            if state.complete:
                self.new.serving_version = target
                self.new.last_good_version = target
                self.new.serving_revision = self.new.last_good_revision = target_rev
                annotations[names.ANN_SERVING_METRICS] = annotations.get(names.ANN_VERSION_METRICS, "{}")
                deployment = self.deployment(target_model, target, annotations)
                set_marks(self.conds, [ROLLED_OUT], f"{what} rolled out: {state.message}")
            elif state.deadline_exceeded or late:
                why = state.message if state.deadline_exceeded else f"not available after {self.spec.rollout.progress_deadline_seconds}s"
                trouble = pod_trouble(_pods(self.obs, names.COMPONENT_SERVER, target))
                if trouble is not None:
                    why += f"; {trouble.message}"
                good_model = self.model_of(good_rev) if good_rev and good_rev != target_rev else None
                self.conds.set(ConditionType.Progressing, False, "ProgressDeadlineExceeded", f"{what}: {why}")
                if good_model is not None:
                    good = model_version(good_model.spec)
                    self.new.failed_version = target
                    self.new.failed_revision = target_rev
                    rollback = {
                        names.ANN_VERSION: good,
                        names.ANN_VERSION_METRICS: annotations.get(names.ANN_SERVING_METRICS, "{}"),
                        names.ANN_SERVING_METRICS: annotations.get(names.ANN_SERVING_METRICS, "{}"),
                        names.ANN_ROLLOUT_STARTED: rfc3339(self.now),
                    }
                    deployment = self.deployment(good_model, good, rollback)
                    self.degraded = ("RolledBack", f"{what} did not become available ({why}); rolled back to {good} ({good_rev})")
                else:
                    self.problem = f"{what} did not become available: {why}"
            else:
                trouble = pod_trouble(_pods(self.obs, names.COMPONENT_SERVER, target))
                detail = f"; {trouble.message}" if trouble is not None else ""
                self.conds.set(ConditionType.Progressing, True, trouble.reason if trouble else "RollingOut",
                               f"rolling out {what}: {state.message}{detail}")
                self.activity = Phase.RollingOut
        elif deployed_rev != target_rev:
            serving = self.old.serving_version
            set_marks(self.conds, [STARTED[Stage.serve]],
                      f"rolling out version {target} ({target_rev})" + (f"; {serving} serves meanwhile" if serving else ""))
            self.activity = Phase.RollingOut
        self.desired += [deployment, children.server_service(self.model), children.headless_service(self.model),
                         children.server_pdb(self.model)]
        self.autoscaling(want=True)
        self.availability(dep)

    def canary(self, candidate: Optional[str], deployed_rev: Optional[str], deployed: Optional[str],
               serving_rev: Optional[str]) -> Optional[str]:
        """rollout.canary (operator/canary.py): the revision the stable Deployment is to run; the
        canary Deployment, status.canary and the CanaryJudged condition as a side effect."""
        spec = self.spec.rollout.canary
        dep, canary_dep = self.obs.deployment, self.obs.canary_deployment
        available = int(((canary_dep or {}).get("status") or {}).get("availableReplicas") or 0) > 0
        servers = {p["metadata"]["name"] for p in _pods(self.obs, names.COMPONENT_SERVER)}
        stable_model = self.model_of(deployed_rev)
        stable_version = (served_version(deployed, stable_model.reranker_version or "") if deployed and stable_model
                          else deployed)
        situation = canary.Situation(
            spec=spec, candidate=candidate, candidate_version=served_version(self.latest, self.model.reranker_version or ""),
            stable_revision=deployed_rev, stable_version=stable_version, settled=deployed_rev is not None and deployed_rev == serving_rev,
            old=self.old.canary, canary_available=available, seen=self.obs.feedback, existing_pods=frozenset(servers),
            progress_deadline_seconds=float(self.spec.rollout.progress_deadline_seconds))
        step = canary.step(situation, self.now)
        self.new.canary = step.status
        if step.condition is not None:
            self.conds.set(ConditionType.CanaryJudged, *step.condition)
        if step.run_canary and spec is not None and step.status is not None:
            stable_replicas = int(((dep or {}).get("spec") or {}).get("replicas") or 1)
            annotations = {names.ANN_VERSION: self.latest, names.ANN_ROLLOUT_STARTED: step.status.started_at}
            spec_hash = children.content_hash(children.spec_config_map(self.model, self.latest)["data"])
            self.desired.append(children.server_deployment(
                self.model, self.latest, canary.canary_replicas(stable_replicas, spec.traffic_percent), self.settings,
                annotations, spec_hash, track=names.TRACK_CANARY))
        elif canary_dep is not None and not (canary_dep.get("metadata") or {}).get("deletionTimestamp"):
            self.deletes.append(_ref("Deployment", canary_dep["metadata"]["name"]))
        if step.failed and step.status is not None:
            self.new.failed_version, self.new.failed_revision = self.latest, step.status.revision
            self.degraded = ("RolledBack", f"canary {step.status.version} rolled back: {step.status.message}")
        return step.stable_revision

    def model_of(self, revision: Optional[str]) -> Optional[ParsedDialogModel]:
        """The model as a revision (spec ConfigMap) describes it: the current spec or one recorded before."""
        if revision is None:
            return None
        if revision == self.revision:
            return self.model
        config_map = self.obs.config_maps.get(revision)
        recorded = children.spec_of(config_map)
        return (dataclasses.replace(self.model, spec=recorded, reranker_version=children.reranker_of(config_map))
                if recorded is not None else None)

    def autoscaling(self, want: bool) -> None:
        """The HPA or ScaledObject of the spec's engine; the other (an engine switched away from) goes."""
        engine = self.spec.serving.autoscaling.engine
        obj = scaling_objects.desired(self.model, self.settings) if want else None
        if obj is not None and engine == AutoscalingEngine.keda:
            missing = None
            if not self.obs.keda_supported:
                missing = ("KEDAMissing", "serving.autoscaling.engine is keda, but this cluster does not serve KEDA's "
                                          "ScaledObject (keda.sh/v1alpha1): install KEDA or choose another engine")
            elif not self.settings.prometheus_url:
                missing = ("PrometheusUrlMissing", "serving.autoscaling.engine keda queries Prometheus: set the "
                                                   "operator's prometheusUrl (REJOINDER_PROMETHEUS_URL)")
            if missing is not None:
                self.conds.set(ConditionType.ScalingActive, False, *missing)
                self.degraded = self.degraded or missing
                obj = None
        elif obj is not None:
            self.conds.set(ConditionType.ScalingActive, True, "HorizontalPodAutoscaler",
                           f"replicas are set by HorizontalPodAutoscaler {obj['metadata']['name']} on {scaling_objects.RPS_METRIC}")
        if obj is not None:
            self.desired.append(obj)
            if engine == AutoscalingEngine.keda:
                self.conds.set(ConditionType.ScalingActive, True, "ScaledObject",
                               f"replicas are set by KEDA ScaledObject {obj['metadata']['name']}")
        kept = obj["kind"] if obj is not None else None
        for kind, existing in (("HorizontalPodAutoscaler", self.obs.hpa), ("ScaledObject", self.obs.scaled_object)):
            if existing is not None and kind != kept and scaling_objects.is_ours(existing, self.model.name):
                self.deletes.append(_ref(kind, existing["metadata"]["name"]))

    def gate_passes(self, dep: Optional[Obj]) -> bool:
        gate = self.spec.rollout.quality_gate
        if gate is None:
            return True
        metric = gate.metric.value
        refusal = start_gain_refusal(gate.metric.value, gate.min_gain_over_start, self.new.metrics or {})
        if refusal is not None:
            keeping = f"; keeping {self.old.serving_version}" if self.old.serving_version else "; not served"
            self.degraded = (refusal[0], f"quality gate: version {self.latest} {refusal[1]}{keeping}")
            return False
        serving = _metrics_annotation(dep, names.ANN_SERVING_METRICS)
        old_value = serving.get(metric)
        if old_value is None:
            return True  # nothing to compare with
        new_value = (self.new.metrics or {}).get(metric)
        if new_value is None:
            self.degraded = ("MetricsMissing",
                             f"quality gate: version {self.latest} reported no {metric}; keeping {self.old.serving_version}")
            return False
        if new_value < old_value - gate.max_regression:
            self.degraded = ("QualityGateFailed",
                             f"quality gate: {metric} of {self.latest} is {new_value:.4f}, serving version "
                             f"{self.old.serving_version} has {old_value:.4f} (tolerance {gate.max_regression}); not rolled out")
            return False
        return True

    def deployment_annotations(self, dep: Optional[Obj], deployed_rev: Optional[str], target_rev: str,
                               target: str) -> dict[str, str]:
        if dep is not None and deployed_rev == target_rev:
            keep = (names.ANN_VERSION, names.ANN_VERSION_METRICS, names.ANN_SERVING_METRICS, names.ANN_ROLLOUT_STARTED)
            return {k: v for k in keep if (v := _annotation(dep, k)) is not None}
        metrics = self.new.metrics if target == self.new.trained_version else {}
        return {
            names.ANN_VERSION: target,
            names.ANN_VERSION_METRICS: json.dumps(metrics, sort_keys=True),
            names.ANN_SERVING_METRICS: _annotation(dep, names.ANN_SERVING_METRICS) or "{}",
            names.ANN_ROLLOUT_STARTED: rfc3339(self.now),
        }

    def deployment(self, model: ParsedDialogModel, version: str, annotations: dict[str, str]) -> dict[str, Any]:
        """The Deployment running `model` (the current spec or a recorded revision) at `version`;
        replica bounds always come from the current spec."""
        s = self.spec.serving
        low, high = max(1, s.min_replicas), max(1, s.max_replicas)
        current = ((self.obs.deployment or {}).get("spec") or {}).get("replicas")
        replicas = min(max(int(current), low), high) if current is not None else low
        spec_hash = children.content_hash(children.spec_config_map(model, version)["data"])
        deployment = children.server_deployment(model, version, replicas, self.settings, dict(annotations), spec_hash)
        external = s.autoscaling.engine != AutoscalingEngine.operator
        if current is not None and (replicas == int(current) or external):
            # The autoscaler owns the replica count: never write it back from a possibly stale view
            # (an HPA or KEDA enforces the bounds itself).
            del deployment["spec"]["replicas"]
        return deployment

    def availability(self, dep: Optional[Obj]) -> None:
        status = (dep or {}).get("status") or {}
        self.new.replicas = int(((dep or {}).get("spec") or {}).get("replicas") or 0)
        self.new.ready_replicas = int(status.get("readyReplicas") or 0)
        available = int(status.get("availableReplicas") or 0)
        serving = self.new.serving_version
        if serving and available > 0:
            set_marks(self.conds, [AVAILABLE], f"{available} of {self.new.replicas} replicas serve {serving}")
            self.new.endpoint = children.endpoint(self.model)
        elif serving:
            trouble = pod_trouble(_pods(self.obs, names.COMPONENT_SERVER))
            self.conds.set(ConditionType.Available, False, "NoReplicasAvailable",
                           f"no replica of {serving} is available" + (f": {trouble.message}" if trouble else ""))
            self.new.endpoint = None
        else:
            set_marks(self.conds, [WAITING[Stage.serve]], "waiting for the first rollout")
            self.new.endpoint = None

    # --- old versions -------------------------------------------------------------------------

    def garbage(self) -> None:
        """Jobs of versions that are neither wanted, served nor the rollback target; spec ConfigMaps
        that no revision in use and no remaining Job needs."""
        keep = {self.latest, self.new.serving_version, self.new.last_good_version,
                _annotation(self.obs.deployment, names.ANN_VERSION)}
        keep_specs = {self.new.serving_revision, self.new.last_good_revision,
                      children.mounted_spec(self.obs.deployment) if self.obs.deployment else None}
        for desired in self.desired:
            if desired["kind"] == "Deployment":
                keep.add(desired["metadata"]["annotations"][names.ANN_VERSION])
            if desired["kind"] in ("Deployment", "Job", "MPIJob"):
                keep_specs.add(children.mounted_spec(desired))
            if desired["kind"] == "ConfigMap":
                keep_specs.add(desired["metadata"]["name"])
        keep.discard(None)
        index_name = names.index_job(self.model.name, self.index_ver)
        training_names = {d["metadata"]["name"] for d in self.desired if d["kind"] in ("Job", "MPIJob")}
        for kind, objs in (("Job", self.obs.jobs), ("MPIJob", self.obs.mpijobs)):
            for name, obj in objs.items():
                version = ((obj.get("metadata") or {}).get("labels") or {}).get(names.LABEL_VERSION)
                component = ((obj.get("metadata") or {}).get("labels") or {}).get(names.LABEL_COMPONENT)
                if component == names.COMPONENT_CLEANUP or (obj.get("metadata") or {}).get("deletionTimestamp"):
                    continue
                stale_index = component == names.COMPONENT_INDEX and version == self.latest and name != index_name
                stale_attempt = (component == names.COMPONENT_TRAIN and version == self.latest
                                 and name not in training_names and self.new.trained_version != self.latest)
                if version not in keep or stale_index or stale_attempt:
                    self.deletes.append(_ref(kind, name))
                else:
                    keep_specs.add(children.mounted_spec(obj))  # a Job's pods may still start and mount it
        for name, obj in self.obs.config_maps.items():
            component = ((obj.get("metadata") or {}).get("labels") or {}).get(names.LABEL_COMPONENT)
            if component == names.COMPONENT_SPEC and name not in keep_specs and not (obj.get("metadata") or {}).get("deletionTimestamp"):
                self.deletes.append(_ref("ConfigMap", name))

    # --- status -------------------------------------------------------------------------------

    def finish(self, serving: bool) -> Plan:
        new, conds = self.new, self.conds
        serving_version = new.serving_version
        available = conds.is_true(ConditionType.Available)
        if self.problem is not None:
            conds.set(ConditionType.Degraded, True, self._problem_reason(), self.problem)
        elif self.degraded is not None:
            conds.set(ConditionType.Degraded, True, *self.degraded)
        elif serving and serving_version and not available and self.activity is None:
            c = conds.get(ConditionType.Available)
            self.degraded = ("NoReplicasAvailable", c.message if c else "no replica is available")
            conds.set(ConditionType.Degraded, True, *self.degraded)
        else:
            set_marks(conds, [HEALTHY])

        if self.problem is not None:
            new.phase = Phase.Degraded if (serving_version and available) else Phase.Failed
        elif self.activity is not None:
            new.phase = self.activity
        elif self.degraded is not None:
            new.phase = Phase.Degraded
        elif serving:
            new.phase = Phase.Serving if available else Phase.RollingOut
        else:
            new.phase = Phase.Trained if new.trained_version == self.latest else Phase.Pending
        if new.phase == Phase.Serving and conds.get(ConditionType.Progressing) is None:
            set_marks(conds, [ROLLED_OUT], f"version {serving_version} is served")
        new.message = self._message()
        new.conditions = conds.as_list()
        events = conds.transitions()
        if new.phase != self.old.phase or not self.old.conditions:
            events.append(Transition("Phase", new.phase.value, new.phase.value, new.message))
        create, patch = self._changes()
        status = new.to_wire()
        for key in ("trainedVersion", "servingVersion", "lastGoodVersion", "failedVersion", "endpoint", "training",
                    "trainingAttempt", "servingRevision", "lastGoodRevision", "failedRevision", "canary"):
            status.setdefault(key, None)  # explicit nulls: a merge patch must clear them
        return Plan(create=create, patch=patch, delete=self.deletes, status=status, events=events)

    def _problem_reason(self) -> str:
        if self.problem_reason is not None:
            return self.problem_reason
        for ctype in (ConditionType.Trained, ConditionType.Indexed, ConditionType.Progressing):
            c = self.conds.get(ctype)
            if c is not None and c.status == "False" and c.reason in (
                    "JobFailed", "TrainingDiverged", "MPIJobCRDMissing", "NoStorage", "IndexJobFailed", "ProgressDeadlineExceeded"):
                return c.reason
        return "Failed"

    def _message(self) -> str:
        new = self.new
        phase_source = {
            Phase.Pending: ConditionType.Trained, Phase.Training: ConditionType.Trained,
            Phase.Indexing: ConditionType.Indexed, Phase.RollingOut: ConditionType.Progressing,
        }
        if new.phase in phase_source:
            c = self.conds.get(phase_source[new.phase])
            text = c.message if c else new.phase.value
        elif new.phase in (Phase.Degraded, Phase.Failed):
            c = self.conds.get(ConditionType.Degraded)
            text = c.message if c and c.message else (self.problem or "")
        elif new.phase == Phase.Serving:
            text = f"serving {new.serving_version} at {new.endpoint}"
            if new.canary is not None and new.canary.outcome == canary.Outcome.observing.value:
                text += f"; canary {new.canary.version}: {new.canary.summary}"
        else:
            text = f"version {new.trained_version} trained; not served"
        text = text.splitlines()[0] if text else ""
        if new.phase not in (Phase.Serving,) and new.serving_version and "serv" not in text:
            text += f" (serving {new.serving_version})"
        return text[:300]

    def _existing_objects(self) -> list[Obj]:
        objs = list(self.obs.config_maps.values()) + list(self.obs.jobs.values()) + list(self.obs.mpijobs.values())
        objs += [o for o in (self.obs.deployment, self.obs.service, self.obs.pdb, self.obs.hpa, self.obs.scaled_object,
                             self.obs.canary_deployment, self.obs.headless_service) if o is not None]
        return [o for o in objs if o.get("kind")]

    def _changes(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        existing: dict[tuple[str, str], Optional[Obj]] = {}
        for name, obj in self.obs.config_maps.items():
            existing[("ConfigMap", name)] = obj
        for name, obj in self.obs.jobs.items():
            existing[("Job", name)] = obj
        for name, obj in self.obs.mpijobs.items():
            existing[("MPIJob", name)] = obj
        for kind, obj in (("Deployment", self.obs.deployment), ("Service", self.obs.service),
                          ("PodDisruptionBudget", self.obs.pdb), ("HorizontalPodAutoscaler", self.obs.hpa),
                          ("ScaledObject", self.obs.scaled_object), ("Deployment", self.obs.canary_deployment),
                          ("Service", self.obs.headless_service)):
            if obj is not None:
                existing[(kind, obj["metadata"]["name"])] = obj
        create, patch = [], []
        deleted = {(r.plural, r.name) for r in self.deletes}
        for obj in self.desired:
            key = (obj["kind"], obj["metadata"]["name"])
            if (child_kinds.plural(obj["kind"]), key[1]) in deleted:
                continue
            current = existing.get(key)
            if current is None and key in self.refused_keys:
                continue
            if current is None:
                create.append(obj)
            elif obj["kind"] not in _CREATE_ONLY and not is_subset(obj, current):
                patch.append(obj)
        return create, patch


def plan(model: ParsedDialogModel, status: DialogModelStatus, observed: Observed, settings: OperatorSettings,
         now: datetime) -> Plan:
    """Decide everything for one DialogModel (see the module docstring)."""
    if model.spec.serving.reranker and observed.reranker_version:
        model = dataclasses.replace(model, reranker_version=observed.reranker_version)
    return _Planner(model, status, observed, settings, now).run()


def _replacing(old: Any, new: Any) -> Any:
    """A merge-patch value that makes a map equal to `new`: keys gone from it are set to null
    (a JSON merge patch merges maps, so a new version would otherwise inherit the old one's keys)."""
    if not isinstance(new, Mapping) or not isinstance(old, Mapping):
        return new
    out: dict[str, Any] = {k: None for k in old if k not in new}
    out.update({k: _replacing(old.get(k), v) for k, v in new.items()})
    return out


def status_patch(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """The top-level status fields that changed (a merge patch replacing maps), empty when nothing did."""
    return {k: _replacing(old.get(k), v) for k, v in new.items() if old.get(k) != v and not (v is None and k not in old)}
