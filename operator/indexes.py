"""Reading kopf's indexes: each child kind's index holds the operator's objects by their model."""

from __future__ import annotations

from typing import Any, Mapping, Optional

from . import names
from .child_kinds import ChildKind

ModelKey = tuple[str, str]  # (namespace, name)


def model_key(namespace: Optional[str], labels: Mapping[str, str]) -> Optional[ModelKey]:
    """The model a child belongs to, from its rejoinder.dev/model label (None: not a model's child)."""
    model = labels.get(names.LABEL_MODEL)
    return (namespace or "", model) if model else None


def snapshot(body: Mapping[str, Any]) -> dict[str, Any]:
    """A plain copy of a kopf body, as it is at the event (kopf's bodies are live views)."""
    return {k: body[k] for k in body}


def model_children(indexes: Mapping[str, Any], kind: ChildKind, key: ModelKey) -> list[dict[str, Any]]:
    """A model's children of one indexed kind."""
    assert kind.index is not None, f"{kind.kind} is not indexed"
    store = indexes[kind.index]
    return list(store.get(key, ())) if key in store else []


def by_name(items: Any) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in items or ()}
