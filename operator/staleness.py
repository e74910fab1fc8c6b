"""Which DialogModel status is newest: the one in a body from a watch, or the one this operator
wrote last (a watch event can lag behind the operator's own write).

resourceVersions are opaque (only equality means anything), so the written status counts as
newest until a body shows it: one carrying the resourceVersion the write returned, or a status
that already holds everything written.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Optional

# Written by the autoscaler's own small patches, not by a reconcile: not part of the comparison.
_IGNORED = ("rps",)


@dataclass(frozen=True)
class Written:
    resource_version: str
    status: Mapping[str, Any]


def reflects(current: Mapping[str, Any], written: Mapping[str, Any]) -> bool:
    return all(current.get(k) == v for k, v in written.items() if k not in _IGNORED)


def newest_status(body: Mapping[str, Any], written: Optional[Written]) -> tuple[dict[str, Any], bool]:
    """(the status to plan from, whether the written one is still ahead of the watched bodies)."""
    current = dict(body.get("status") or {})
    if written is None:
        return current, False
    rv = str((body.get("metadata") or {}).get("resourceVersion") or "")
    if rv == written.resource_version or reflects(current, written.status):
        return current, False
    return dict(written.status), True
