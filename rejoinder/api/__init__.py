"""The DialogModel API (`rejoinder.dev/v1alpha1`): spec, status, CRD generation, loading."""

from .document import (
    DialogModel,
    InvalidDialogModel,
    SpecProblem,
    load_dialog_model,
    load_dialog_models,
    parse_dialog_model,
)
from .spec import API_VERSION, GROUP, KIND, PLURAL, VERSION, DialogModelSpec, Task
from .status import Condition, ConditionType, DialogModelStatus, Phase

__all__ = [
    "API_VERSION", "GROUP", "KIND", "PLURAL", "VERSION",
    "Condition", "ConditionType", "DialogModel", "DialogModelSpec", "DialogModelStatus",
    "InvalidDialogModel", "Phase", "SpecProblem", "Task",
    "load_dialog_model", "load_dialog_models", "parse_dialog_model",
]
