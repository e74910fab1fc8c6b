"""The status of a DialogModel whose spec does not validate (e.g. on an apiserver without CEL,
which lets through what the CRD's rules would refuse): Failed, with each problem named."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import ValidationError

from .conditions import rfc3339


def problems(error: ValidationError) -> str:
    """`spec.<path>: <message>` for each problem, joined by "; "."""
    return "; ".join(f"spec.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors())


def invalid_spec_status(error: ValidationError, now: datetime) -> dict[str, Any]:
    text = problems(error)
    return {"phase": "Failed", "message": f"invalid spec: {text}"[:300],
            "conditions": [{"type": "Degraded", "status": "True", "reason": "InvalidSpec",
                            "message": text[:4000], "lastTransitionTime": rfc3339(now)}]}
