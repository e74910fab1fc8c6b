"""A spec the apiserver let through although it breaks the CRD's rules (an apiserver without CEL
validation rules, or a CRD installed by hand without them) is reported, not crashed on: phase
Failed, Degraded=True InvalidSpec naming each problem, one Warning Event, no children; fixing
the spec starts the pipeline."""

from __future__ import annotations

import copy
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml
from k8s_emulator import EmulatorThread
from operator_e2e import API, CRD, condition, dialog_model, jobs, running_operator, status_of, wait_for
from pydantic import ValidationError

from rejoinder.api.spec import DialogModelSpec
from rejoinder.operator import names
from rejoinder.operator.invalid_spec import invalid_spec_status

BOTH = {"training": {"steps": 100, "epochs": 2, "gpusPerWorker": 2}}  # "set steps or epochs, not both"


def _error(spec: dict[str, Any]) -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        DialogModelSpec.model_validate(spec)
    return caught.value


def test_the_status_names_every_problem() -> None:
    spec = dialog_model("x", **BOTH)["spec"]
    status = invalid_spec_status(_error(spec), datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc))
    assert status["phase"] == "Failed" and status["message"].startswith("invalid spec: spec.training")
    assert "set steps or epochs, not both" in status["message"]
    (degraded,) = status["conditions"]
    assert (degraded["type"], degraded["status"], degraded["reason"]) == ("Degraded", "True", "InvalidSpec")
    assert degraded["lastTransitionTime"] == "2026-01-02T03:04:05Z"
    long = invalid_spec_status(_error({**spec, "task": "no-such-task", "storage": {}}), datetime.now(timezone.utc))
    assert len(long["message"]) <= 300 and long["message"].count("spec.") >= 2


def _without_cel(crd: dict[str, Any]) -> dict[str, Any]:
    """The CRD as an apiserver without CEL validation rules enforces it."""
    def strip(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: strip(v) for k, v in node.items() if k != "x-kubernetes-validations"}
        if isinstance(node, list):
            return [strip(v) for v in node]
        return node
    return strip(copy.deepcopy(crd))


def test_the_operator_reports_an_invalid_spec_and_recovers_when_it_is_fixed(tmp_path: Path) -> None:
    with EmulatorThread() as emu:
        emu.client.create(_without_cel(yaml.safe_load(CRD.read_text())), "customresourcedefinitions")
        with running_operator(emu, tmp_path):
            emu.client.create(dialog_model("both", namespace="bad", **BOTH), "dialogmodels")
            status = wait_for(lambda: (s := status_of(emu, "bad", "both")).get("phase") == "Failed" and s,
                              "the invalid spec in status")
            assert condition(status, "Degraded")["reason"] == "InvalidSpec"
            assert "set steps or epochs, not both" in status["message"]
            wait_for(lambda: [e for e in emu.client.list("v1", "events", "bad")
                              if e["reason"] == "InvalidSpec" and e["type"] == "Warning"], "the Warning Event")
            assert not jobs(emu, "bad", "both", names.COMPONENT_TRAIN)
            emu.client.patch(API, "dialogmodels", "bad", "both", {"spec": {"training": {"epochs": None}}})
            wait_for(lambda: jobs(emu, "bad", "both", names.COMPONENT_TRAIN), "the training Job after the fix")
            wait_for(lambda: condition(status_of(emu, "bad", "both"), "Degraded").get("reason") != "InvalidSpec",
                     "the InvalidSpec condition to clear")
