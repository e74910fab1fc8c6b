"""The children a DialogModel gets, phase by phase, from the builders the planner uses
(children.py), without a cluster: what `rejoinder render` prints for review and validation.

The planner decides *when* each object is created (training before indexing before serving);
this lists *what* each phase creates for the spec's current version, as a first rollout would.
"""

from __future__ import annotations

import json
from typing import Any, Sequence

from rejoinder.api.versioning import index_version, model_version
from rejoinder.pipeline.conditions import rfc3339
from rejoinder.pipeline.stages import builds_index, serves

from . import children, names, scaling_objects
from .children import ParsedDialogModel
from .settings import OperatorSettings

PHASES = ("training", "indexing", "serving")


def for_phase(model: ParsedDialogModel, phase: str, settings: OperatorSettings, now: Any = None) -> list[dict[str, Any]]:
    """The objects the operator creates in one phase (empty when the phase does not apply)."""
    spec, version = model.spec, model_version(model.spec)
    config_map = children.spec_config_map(model, version)
    if phase == "training":
        return [config_map, children.training_workload(model, version, settings)]
    if phase == "indexing":
        if not builds_index(spec):
            return []
        return [children.index_job(model, version, index_version(spec), settings)]
    if phase == "serving":
        if not serves(spec):
            return []
        annotations = {names.ANN_VERSION: version, names.ANN_VERSION_METRICS: "{}", names.ANN_SERVING_METRICS: "{}"}
        if now is not None:
            annotations[names.ANN_ROLLOUT_STARTED] = rfc3339(now)
        replicas = max(1, spec.serving.min_replicas)
        deployment = children.server_deployment(model, version, replicas, settings, annotations,
                                                 children.content_hash(config_map["data"]))
        scaling = scaling_objects.desired(model, settings)  # the HPA or ScaledObject of engine hpa / keda
        return [deployment, children.server_service(model), children.headless_service(model),
                children.server_pdb(model)] + ([scaling] if scaling else [])
    raise ValueError(f"unknown phase {phase!r} (one of {', '.join(PHASES)})")


def render(model: ParsedDialogModel, settings: OperatorSettings, phases: Sequence[str] = PHASES, now: Any = None) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for phase in phases:
        out += for_phase(model, phase, settings, now)
    return json.loads(json.dumps(out))  # plain data: no shared sub-objects between documents
