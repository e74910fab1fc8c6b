"""Tiny DialogModels for the training tests: small enough to train in seconds on 2 cores.

A module of its own (not conftest.py): test modules import these by a name no other test folder uses."""

from __future__ import annotations

import copy
import json
import os
import sys
from pathlib import Path
from typing import Any

import yaml

TINY_BERT = {"layers": 2, "hidden": 64, "heads": 2, "intermediate": 128, "maxSeqLength": 32,
             "contextLength": 24, "responseLength": 8}


def _merge(base: dict, extra: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in extra.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def tiny_model(name: str, storage: Path, **spec: Any) -> dict:
    """A DialogModel object (dict) on the chatterbot preset with a 2-layer BERT and BPE."""
    base = {
        "task": "retrieval",
        "model": {"architecture": "bert", "bert": TINY_BERT, "qaLstm": {"embeddingDim": 32, "hiddenUnits": 32, "mlpUnits": 32}},
        "tokenizer": {"kind": "bpe", "vocabSize": 1000},
        "data": {"preset": "chatterbot", "maxContextTurns": 2},
        "training": {"gpusPerWorker": 0, "steps": 8, "batchSizePerGpu": 16, "learningRate": 1e-3,
                     "warmupSteps": 2, "checkpointInterval": 4, "xla": False, "mixedPrecision": "none"},
        "storage": {"path": str(storage)},
    }
    body = _merge(base, spec)
    if body["task"] == "pretraining":
        body.setdefault("serving", {})["enabled"] = False
    return {"apiVersion": "rejoinder.dev/v1alpha1", "kind": "DialogModel", "metadata": {"name": name}, "spec": body}


def write_model(path: Path, obj: dict) -> Path:
    path.write_text(yaml.safe_dump(obj, sort_keys=False))
    return path


def metrics_of(storage: Path, name: str) -> dict:
    found = list((storage / "default" / name / "versions").glob("*/metrics.json"))
    assert len(found) == 1, f"expected one trained version, found {found}"
    return json.loads(found[0].read_text())


def cli_env() -> dict[str, str]:
    """Environment for `rejoinder train` subprocesses: quiet TF, no GPUs, this interpreter's bin."""
    env = dict(os.environ)
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    env["CUDA_VISIBLE_DEVICES"] = ""
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env["PYTHONUNBUFFERED"] = "1"
    return env
