"""The local model's status, kept as `status.json` beside its versions (what `rejoinder status` reads)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable, Iterator, Optional

from ..api.status import DialogModelStatus
from ..atomic import write_json
from ..pipeline.conditions import Conditions, Transition, utcnow
from ..pipeline.transitions import Mark, set_marks

STATUS_FILE = "status.json"


def save(model_root: Path, status: DialogModelStatus) -> None:
    write_json(model_root / STATUS_FILE, status.to_wire())


def load(model_root: Path) -> Optional[DialogModelStatus]:
    path = model_root / STATUS_FILE
    if not path.is_file():
        return None
    return DialogModelStatus.model_validate(json.loads(path.read_text()))


def record(status: DialogModelStatus, marks: Iterable[Mark], message: str = "") -> list[Transition]:
    """Set the pipeline's conditions on `status` (the operator's setter: the transition time moves
    only when a status flips); the conditions that changed, as the operator's Events would be."""
    conds = Conditions(list(status.conditions), utcnow(), None)
    set_marks(conds, marks, message)
    status.conditions = conds.as_list()
    return conds.transitions()


def find_models(storage: Path) -> Iterator[tuple[str, str, Path]]:
    """(namespace, name, model root) of every local model with a status under `storage`."""
    for path in sorted(storage.glob(f"*/*/{STATUS_FILE}")):
        yield path.parent.parent.name, path.parent.name, path.parent
