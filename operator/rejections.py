"""Children the API server refused (422 Invalid, 403 Forbidden, 400 BadRequest): pure rules.

A refused create is not retried by kopf's backoff loop: the planner reports it as a condition with
the apiserver's own message, and tries the same object again only after `RETRY_AFTER` (admission
webhooks, quotas and RBAC can change) or at once when the object itself changed (a new spec).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Mapping, Optional

from rejoinder.api.status import ConditionType

from . import names

REFUSED = (400, 403, 422)  # the request itself is wrong: retrying it unchanged cannot help
RETRY_AFTER = timedelta(minutes=5)

# Which condition tells about a child, by its component label.
_CONDITION = {
    names.COMPONENT_TRAIN: ConditionType.Trained,
    names.COMPONENT_SPEC: ConditionType.Trained,
    names.COMPONENT_INDEX: ConditionType.Indexed,
    names.COMPONENT_SERVER: ConditionType.Progressing,
}


@dataclass(frozen=True)
class Rejection:
    content: str  # content_hash of the refused object
    code: int
    reason: str  # the apiserver's Status reason: Invalid, Forbidden, BadRequest
    message: str  # the apiserver's Status message (field paths included)
    at: datetime


Key = tuple[str, str]  # (kind, name)


def key_of(obj: Mapping[str, Any]) -> Key:
    return (obj["kind"], obj["metadata"]["name"])


def still_refused(obj: Mapping[str, Any], content: str, rejected: Mapping[Key, Rejection], now: datetime) -> Optional[Rejection]:
    """The rejection that still applies to `obj` (same content, retry not due yet), if any."""
    found = rejected.get(key_of(obj))
    if found is None or found.content != content or now - found.at >= RETRY_AFTER:
        return None
    return found


def condition_for(obj: Mapping[str, Any]) -> ConditionType:
    component = ((obj.get("metadata") or {}).get("labels") or {}).get(names.LABEL_COMPONENT, "")
    return _CONDITION.get(component, ConditionType.Progressing)


def describe(obj: Mapping[str, Any], rejection: Rejection) -> str:
    return (f"the API server refused {obj['kind']} {obj['metadata']['name']} ({rejection.code} {rejection.reason}): "
            f"{rejection.message}")
