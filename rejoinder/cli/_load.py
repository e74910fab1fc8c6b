"""Loading the DialogModel a verb's `-f FILE` names, the same way for every verb."""

from __future__ import annotations

import sys
from pathlib import Path

from ..api import DialogModel, InvalidDialogModel, load_dialog_model


def dialog_model_or_exit(path: Path) -> DialogModel:
    """The file's one DialogModel; on a missing file or any invalid field, say why and exit 2."""
    try:
        return load_dialog_model(path)
    except FileNotFoundError:
        print(f"{path}: no such file", file=sys.stderr)
    except InvalidDialogModel as error:
        for problem in error.problems:
            print(problem, file=sys.stderr)
    raise SystemExit(2)
