"""Every object the operator's builders (operator/children.py) create, for a few specs that
reach every branch (CPU and GPU, one worker and an MPIJob, GPU index, artifact cleanup)."""

from __future__ import annotations

from typing import Any

from rejoinder.api.spec import DialogModelSpec
from rejoinder.operator import children
from rejoinder.operator.settings import OperatorSettings

VERSION = "v-0123456789ab"
INDEX_VERSION = "i-0123456789"
RUN_AS_USER = 20000


def specs() -> list[dict[str, Any]]:
    base = {"task": "retrieval", "data": {"preset": "chatterbot"},
            "storage": {"persistentVolumeClaim": "artifacts", "keepOnDelete": False}}
    return [
        base,
        {**base, "training": {"gpusPerWorker": 0, "controller": "gloo"}},
        {**base, "training": {"workers": 3, "gpusPerWorker": 8,
                              "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]},
         "index": {"gpu": True}, "serving": {"gpus": 1, "nodeSelector": {"gpu": "a100"}}},
    ]


def build() -> tuple[list[dict[str, Any]], set[str]]:
    """(objects, names of the builder functions called)."""
    settings = OperatorSettings(run_as_user=RUN_AS_USER)
    objects: list[dict[str, Any]] = []
    used: set[str] = set()
    for number, raw in enumerate(specs()):
        model = children.ParsedDialogModel(name=f"m{number}", namespace="dialog", uid=f"uid-{number}",
                               spec=DialogModelSpec.model_validate(raw))
        built = {
            "spec_config_map": children.spec_config_map(model, VERSION),
            "training_job": children.training_job(model, VERSION, settings),
            "mpi_job": children.mpi_job(model, VERSION, settings),
            "training_workload": children.training_workload(model, VERSION, settings),
            "index_job": children.index_job(model, VERSION, INDEX_VERSION, settings),
            "server_deployment": children.server_deployment(model, VERSION, 2, settings, {}, "hash"),
            "server_service": children.server_service(model),
            "server_pdb": children.server_pdb(model),
            "cleanup_job": children.cleanup_job(model, settings),
        }
        used.update(built)
        objects.extend(obj for obj in built.values() if obj)
    return objects, used
