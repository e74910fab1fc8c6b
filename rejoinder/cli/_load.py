"""Loading the DialogModel a verb's `-f FILE` names, the same way for every verb."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable, TypeVar

from ..api import DialogModel, InvalidDialogModel, load_dialog_model, load_dialog_models

T = TypeVar("T")


def dialog_model_or_exit(path: Path) -> DialogModel:
    """The file's one DialogModel; on a missing file or any invalid field, say why and exit 2."""
    return _or_exit(path, load_dialog_model)


def dialog_models_or_exit(path: Path) -> list[DialogModel]:
    """Every DialogModel of a multi-document file (at least one), or why not and exit 2."""
    models = _or_exit(path, load_dialog_models)
    if not models:
        print(f"{path}: no DialogModel in the file", file=sys.stderr)
        raise SystemExit(2)
    return models


def _or_exit(path: Path, load: Callable[[Path], T]) -> T:
    try:
        return load(path)
    except FileNotFoundError:
        print(f"{path}: no such file", file=sys.stderr)
    except InvalidDialogModel as error:
        for problem in error.problems:
            print(problem, file=sys.stderr)
    raise SystemExit(2)
