"""The local model's status, kept as `status.json` beside its versions (what `rejoinder status` reads)."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator, Optional

from ..api.status import Condition, ConditionType, DialogModelStatus
from ..atomic import write_json

STATUS_FILE = "status.json"


def now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def save(model_root: Path, status: DialogModelStatus) -> None:
    write_json(model_root / STATUS_FILE, status.to_wire())


def load(model_root: Path) -> Optional[DialogModelStatus]:
    path = model_root / STATUS_FILE
    if not path.is_file():
        return None
    return DialogModelStatus.model_validate(json.loads(path.read_text()))


def set_condition(status: DialogModelStatus, type_: ConditionType, ok: bool, reason: str, message: str = "") -> None:
    """Replace the condition of this type; the transition time moves only when the status flips."""
    value = "True" if ok else "False"
    for i, existing in enumerate(status.conditions):
        if existing.type == type_:
            when = existing.last_transition_time if existing.status == value else now()
            status.conditions[i] = Condition(type=type_, status=value, reason=reason, message=message,
                                             last_transition_time=when)
            return
    status.conditions.append(Condition(type=type_, status=value, reason=reason, message=message,
                                       last_transition_time=now()))


def find_models(storage: Path) -> Iterator[tuple[str, str, Path]]:
    """(namespace, name, model root) of every local model with a status under `storage`."""
    for path in sorted(storage.glob(f"*/*/{STATUS_FILE}")):
        yield path.parent.parent.name, path.parent.name, path.parent
