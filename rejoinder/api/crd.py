"""Generate the DialogModel CustomResourceDefinition from the typed API.

pydantic emits JSON Schema (draft 2020-12); a Kubernetes CRD needs a *structural* OpenAPI v3.0
schema: no $ref, every node typed, nullable-free optionals, boolean exclusive bounds, defaults on
nested objects so the apiserver fills them in, and CEL rules in x-kubernetes-validations.
"""

from __future__ import annotations

import copy
from typing import Any

import yaml
from pydantic import BaseModel

from .base import ApiModel
from .document import DialogModel
from .spec import GROUP, KIND, PLURAL, SHORT_NAME, VERSION, DialogModelSpec
from .status import DialogModelStatus

_DROP_KEYS = {"title", "$defs"}


def _rules_by_title(model: type[BaseModel], seen: dict[str, type[ApiModel]] | None = None) -> dict[str, type[ApiModel]]:
    """Map each nested ApiModel's schema title (its class name) to the class, to find its rules."""
    seen = {} if seen is None else seen
    if isinstance(model, type) and issubclass(model, ApiModel) and model.__name__ not in seen:
        seen[model.__name__] = model
        for field in model.model_fields.values():
            for candidate in _classes_in(field.annotation):
                _rules_by_title(candidate, seen)
    return seen


def _classes_in(annotation: Any) -> list[type]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found: list[type] = []
    for arg in getattr(annotation, "__args__", ()) or ():
        found.extend(_classes_in(arg))
    return found


class _Converter:
    def __init__(self, root: dict[str, Any], classes: dict[str, type[ApiModel]]):
        self.defs = root.get("$defs", {})
        self.classes = classes

    def convert(self, node: dict[str, Any]) -> dict[str, Any]:
        if "$ref" in node:
            name = node["$ref"].rsplit("/", 1)[-1]
            merged = {**self.defs[name], **{k: v for k, v in node.items() if k != "$ref"}}
            return self.convert(merged)
        any_of = node.get("anyOf")
        if any_of is not None:
            non_null = [s for s in any_of if s.get("type") != "null"]
            if len(non_null) == 1:  # Optional[X]: absent instead of null
                rest = {k: v for k, v in node.items() if k != "anyOf"}
                if rest.get("default", 0) is None:
                    rest.pop("default")
                return self.convert({**non_null[0], **rest})
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key in _DROP_KEYS or (key == "additionalProperties" and value is False):
                continue  # structural schemas forbid additionalProperties beside properties
            if key == "description":
                out[key] = " ".join(value.split())
                continue
            if key == "properties":
                out[key] = {name: self.convert(sub) for name, sub in value.items()}
            elif key in ("items", "additionalProperties") and isinstance(value, dict):
                out[key] = self.convert(value)
            elif key in ("exclusiveMinimum", "exclusiveMaximum") and not isinstance(value, bool):
                out["minimum" if key == "exclusiveMinimum" else "maximum"] = value
                out[key] = True
            else:
                out[key] = value
        if "properties" in out:
            out.setdefault("type", "object")
            cls = self.classes.get(node.get("title", ""))
            if cls is not None:
                self._add_object_defaults(out, cls)
                if cls.rules:
                    out["x-kubernetes-validations"] = [r.to_crd() for r in cls.rules]
        if "enum" in out and "type" not in out:
            out["type"] = "string"
        bound_rules = _fractional_bound_rules(out)
        if bound_rules:
            out["x-kubernetes-validations"] = [*out.get("x-kubernetes-validations", []), *bound_rules]
        return out

    @staticmethod
    def _add_object_defaults(schema: dict[str, Any], cls: type[ApiModel]) -> None:
        """Nested objects with all-default fields default to their fully defaulted value, so the
        apiserver fills them in. Not `default: {}`: the apiserver checks a default against the CEL
        rules of its level without applying the nested defaults first, so `{}` fails any rule that
        reads a field (Kubernetes 1.36 refuses the CRD: "no such key: nprobe"), and guarding each
        rule with has() would make its CEL differ from its Python twin (base.CrossFieldRule)."""
        for name, field in cls.model_fields.items():
            prop = schema["properties"].get(field.alias or name)
            if prop is None or field.default_factory is None:
                continue
            if prop.get("type") == "object" and "properties" in prop:
                prop.setdefault("default", _defaulted(prop))


def _fractional_bound_rules(node: dict[str, Any]) -> list[dict[str, str]]:
    """CEL twins of a number's fractional bounds. The apiserver's OpenAPI validation (kube-openapi,
    MinimumNativeType) compares an integer value with int64(bound): `temperature: 0` passes
    `minimum: 0.005` (0 >= int64(0.005) = 0), while 0.0 is refused. CEL compares numbers as they are."""
    rules = []
    for key, exclusive_key, inclusive, exclusive, word in (("minimum", "exclusiveMinimum", ">=", ">", "greater"),
                                                           ("maximum", "exclusiveMaximum", "<=", "<", "less")):
        bound = node.get(key)
        if node.get("type") != "number" or bound is None or float(bound).is_integer():
            continue
        strict = node.get(exclusive_key) is True
        rules.append({"rule": f"self {exclusive if strict else inclusive} {float(bound)!r}",
                      "message": f"should be {word} than {'' if strict else 'or equal to '}{float(bound)!r}"})
    return rules


def _defaulted(schema: dict[str, Any]) -> dict[str, Any]:
    """What the apiserver makes of `{}` under an object schema: each property's default (nested
    ones already complete, since properties are converted first), nothing else."""
    # copies: a shared object would come out of yaml.safe_dump as an anchor and an alias
    return {name: copy.deepcopy(sub["default"]) for name, sub in schema["properties"].items() if "default" in sub}


def openapi_schema(model: type[ApiModel]) -> dict[str, Any]:
    """The structural schema of one API type."""
    raw = model.model_json_schema(by_alias=True, mode="validation")
    return _Converter(raw, _rules_by_title(model)).convert(raw)


def _status_schema() -> dict[str, Any]:
    schema = openapi_schema(DialogModelStatus)
    conditions = schema["properties"]["conditions"]
    conditions["x-kubernetes-list-type"] = "map"
    conditions["x-kubernetes-list-map-keys"] = ["type"]
    return schema


def dialog_model_crd() -> dict[str, Any]:
    spec_schema = openapi_schema(DialogModelSpec)
    spec_schema["description"] = "What to train and how to serve it."
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{PLURAL}.{GROUP}",
            "labels": {"app.kubernetes.io/name": "rejoinder", "app.kubernetes.io/component": "crd"},
        },
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": KIND,
                "listKind": f"{KIND}List",
                "plural": PLURAL,
                "singular": KIND.lower(),
                "shortNames": [SHORT_NAME],
                "categories": ["rejoinder", "ml"],
            },
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": [
                        {"name": "Task", "type": "string", "jsonPath": ".spec.task"},
                        {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
                        {"name": "Version", "type": "string", "jsonPath": ".status.servingVersion",
                         "description": "Model version being served"},
                        {"name": "Ready", "type": "integer", "jsonPath": ".status.readyReplicas"},
                        {"name": "RPS", "type": "number", "jsonPath": ".status.rps"},
                        {"name": "Canary", "type": "string", "jsonPath": ".status.canary.summary",
                         "description": "Upvote ratios of the canary's new version and of the stable one"},
                        {"name": "Message", "type": "string", "jsonPath": ".status.message", "priority": 1},
                        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
                    ],
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "description": "A dialog model trained and served by rejoinder.",
                            "required": ["spec"],
                            "x-kubernetes-validations": [r.to_crd() for r in DialogModel.rules],
                            "properties": {
                                "apiVersion": {"type": "string"},
                                "kind": {"type": "string"},
                                "metadata": {
                                    "type": "object",
                                    "properties": {
                                        "name": {"type": "string", "maxLength": 63,
                                                 "pattern": "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"},
                                    },
                                },
                                "spec": spec_schema,
                                "status": _status_schema(),
                            },
                        }
                    },
                }
            ],
        },
    }


HEADER = "# Generated by `rejoinder crd` from rejoinder/api/spec.py and status.py. Do not edit.\n"


def render_crd() -> str:
    return HEADER + yaml.safe_dump(dialog_model_crd(), sort_keys=False, width=100)
