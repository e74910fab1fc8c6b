"""Model versions: a stable hash of the fields that change what training produces.

A change to any of these starts a new version's pipeline (train → index → roll out); a change
to anything else (serving, rollout, where pods run) reuses the trained version.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from .spec import DialogModelSpec

# Fields of spec.training that say *where/how* training runs, not *what* it produces.
_OPERATIONAL_TRAINING_FIELDS = {
    "image", "resources", "nodeSelector", "tolerations", "activeDeadlineSeconds", "backoffLimit",
    "controller", "checkpointInterval",
}


def _digest(payload: Any, length: int = 12) -> str:
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:length]


def training_relevant(spec: DialogModelSpec) -> dict[str, Any]:
    wire = spec.to_wire()
    training = {k: v for k, v in wire["training"].items() if k not in _OPERATIONAL_TRAINING_FIELDS}
    return {
        "task": wire["task"],
        "model": wire["model"],
        "tokenizer": wire["tokenizer"],
        "data": wire["data"],
        "training": training,
    }


def training_operations(spec: DialogModelSpec) -> str:
    """A digest of how training runs (image, resources, backoffLimit, deadline, placement…): when it
    changes after a training failed, the same version is trained again in a new attempt."""
    wire = spec.to_wire()["training"]
    return _digest({k: v for k, v in wire.items() if k in _OPERATIONAL_TRAINING_FIELDS}, length=10)


def model_version(spec: DialogModelSpec) -> str:
    """`v-<12 hex>`: identical training-relevant specs give the same version, anywhere."""
    return "v-" + _digest(training_relevant(spec))


def index_version(spec: DialogModelSpec) -> str:
    """The index depends on the model version and the index settings (not on serving)."""
    index = {k: v for k, v in spec.index.to_wire().items() if k != "gpu"}
    return "i-" + _digest({"model": model_version(spec), "index": index}, length=10)
