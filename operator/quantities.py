"""Resource quantities compared by value, as the apiserver stores them canonically (`0.5` → `500m`)."""

from __future__ import annotations

from typing import Any

from kubernetes.utils.quantity import parse_quantity


def same_quantity(a: Any, b: Any) -> bool:
    """Whether two quantities are equal in value; anything unparsable compares as text."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a == b
    try:
        return bool(parse_quantity(a) == parse_quantity(b))
    except (ValueError, TypeError, ArithmeticError):
        return str(a) == str(b)
