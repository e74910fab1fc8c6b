"""Check a custom resource the way the kube-apiserver would, offline: the API emulator's own
admission (defaults, strict unknown fields, OpenAPI validation, then the CEL rules)."""

from __future__ import annotations

import copy
from typing import Any

from tests.k8s_emulator.schema import CelRules, CustomResourceSchema


def crd_problems(open_api_schema: dict[str, Any], obj: dict[str, Any]) -> list[tuple[str, str]]:
    """(field path, message) for everything the apiserver would reject; [] when it would accept."""
    causes = CustomResourceSchema(open_api_schema, CelRules()).admit(copy.deepcopy(obj), strict=True)
    return [(cause.field, cause.message) for cause in causes]
