"""Base class for the DialogModel API types.

Every cross-field rule is written once, as a `CrossFieldRule`: its CEL text goes into the CRD
(`x-kubernetes-validations`, checked by the kube-apiserver) and its Python twin runs in
`rejoinder validate` and wherever a spec is loaded. Tests evaluate the CEL text with a CEL
interpreter on the same invalid specs, so the two cannot drift apart silently.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, ClassVar

from pydantic import BaseModel, ConfigDict, model_validator
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError


@dataclass(frozen=True)
class CrossFieldRule:
    """A rule over several fields of one object."""

    cel: str  # evaluated by the kube-apiserver with `self` bound to the object
    message: str  # shown to the user by both the apiserver and `rejoinder validate`
    field: str  # JSON path, relative to the object, of the field to blame (".maxReplicas")
    holds: Callable[[Any], bool]  # the same rule in Python, given the model instance

    def to_crd(self) -> dict[str, str]:
        return {"rule": self.cel, "message": self.message, "fieldPath": self.field}


class ApiModel(BaseModel):
    """camelCase on the wire (as Kubernetes objects are), snake_case in Python; unknown fields fail."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        validate_default=True,
        use_attribute_docstrings=True,
    )

    rules: ClassVar[tuple[CrossFieldRule, ...]] = ()

    @model_validator(mode="after")
    def _check_cross_field_rules(self) -> "ApiModel":
        for rule in type(self).rules:
            if not rule.holds(self):
                raise PydanticCustomError(
                    "cross_field_rule", rule.message, {"field": rule.field.lstrip(".")}
                )
        return self

    def to_wire(self) -> dict[str, Any]:
        """The object as it appears in YAML/JSON and in the Kubernetes API (defaults filled in)."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)
