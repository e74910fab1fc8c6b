"""What the kube-apiserver does with a custom resource's `openAPIV3Schema`: apply defaults, prune
unknown fields, validate (structure, then CEL `x-kubernetes-validations`).

The schema dialect is OpenAPI v3.0 with Kubernetes extensions; it is translated to JSON Schema
draft 4 (boolean `exclusiveMinimum`, as in OpenAPI 3.0) for `jsonschema`.
"""

from __future__ import annotations

import copy
import json
import logging
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import jsonschema

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Cause:
    field: str  # "spec.training.workers"
    message: str


_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
FORMATS = jsonschema.FormatChecker(formats=())  # only the formats the apiserver checks that our CRDs use


@FORMATS.checks("date-time", raises=ValueError)
def _date_time(value: object) -> bool:
    """RFC 3339 with a zone and a T, as the apiserver's `format: date-time` (kube-openapi strfmt.IsDateTime)
    requires; stricter only in refusing impossible dates such as February 30."""
    if not isinstance(value, str):
        return True  # the type check reports non-strings
    if not _RFC3339.match(value):
        return False
    datetime.fromisoformat(value.replace("z", "Z").replace("Z", "+00:00"))  # month 13 etc. raise
    return True


def _go_bound(keyword: str) -> Any:
    """The apiserver's minimum/maximum (kube-openapi MinimumNativeType): an integer value is
    compared with int64(bound), the bound truncated toward zero, so `0` passes `minimum: 0.005`
    where `0.0` does not. CRDs guard fractional bounds with CEL (rejoinder/api/crd.py)."""
    original = jsonschema.Draft4Validator.VALIDATORS[keyword]

    def check(validator: Any, bound: Any, instance: Any, schema: dict[str, Any]) -> Any:
        if isinstance(instance, int) and not isinstance(instance, bool) and isinstance(bound, float):
            return original(validator, int(bound), instance, schema)
        return original(validator, bound, instance, schema)

    return check


_Validator = jsonschema.validators.extend(jsonschema.Draft4Validator, {
    "minimum": _go_bound("minimum"), "maximum": _go_bound("maximum")})


def _to_json_schema(node: Any) -> Any:
    """OpenAPI v3.0 + x-kubernetes-* → draft 4 JSON Schema (only what validation needs)."""
    if isinstance(node, list):
        return [_to_json_schema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key.startswith("x-kubernetes-") or key in ("description", "example", "externalDocs", "default"):
            continue
        if key == "properties":
            out[key] = {name: _to_json_schema(sub) for name, sub in value.items()}
        elif key in ("items", "additionalProperties", "not"):
            out[key] = _to_json_schema(value)
        elif key in ("allOf", "anyOf", "oneOf"):
            out[key] = [_to_json_schema(s) for s in value]
        elif key == "nullable":
            continue
        else:
            out[key] = value
    if node.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if node.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    return out


def apply_defaults(schema: dict[str, Any], value: Any) -> Any:
    """Fill `default`s of absent properties, recursively (the apiserver does this on every write)."""
    if not isinstance(value, dict) or schema.get("type") != "object":
        if isinstance(value, list) and isinstance(schema.get("items"), dict):
            return [apply_defaults(schema["items"], item) for item in value]
        return value
    for name, sub in (schema.get("properties") or {}).items():
        if name not in value and "default" in sub:
            value[name] = copy.deepcopy(sub["default"])
        if name in value:
            value[name] = apply_defaults(sub, value[name])
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict):
        for name in list(value):
            if name not in (schema.get("properties") or {}):
                value[name] = apply_defaults(extra, value[name])
    return value


def prune(schema: dict[str, Any], value: Any, path: str, unknown: list[str]) -> Any:
    """Drop fields the schema does not declare (structural schema pruning); report them."""
    if schema.get("x-kubernetes-preserve-unknown-fields"):
        return value
    if isinstance(value, dict) and schema.get("type") == "object":
        props = schema.get("properties")
        extra = schema.get("additionalProperties")
        if props is None and extra is None:
            return value
        for name in list(value):
            if props is not None and name in props:
                value[name] = prune(props[name], value[name], f"{path}.{name}", unknown)
            elif isinstance(extra, dict):
                value[name] = prune(extra, value[name], f"{path}.{name}", unknown)
            elif extra is True:
                continue
            else:
                unknown.append(f"{path}.{name}".lstrip("."))
                del value[name]
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [prune(schema["items"], item, path, unknown) for item in value]
    return value


def numbers_as_doubles(schema: dict[str, Any], value: Any) -> Any:
    """The value as the apiserver binds it for CEL: a `type: number` is a double even when its
    JSON is an integer (cel-python would find no `int >= double` overload)."""
    if schema.get("type") == "number" and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, dict):
        props = schema.get("properties") or {}
        extra = schema.get("additionalProperties") if isinstance(schema.get("additionalProperties"), dict) else {}
        return {k: numbers_as_doubles(props.get(k) or extra, v) for k, v in value.items()}
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [numbers_as_doubles(schema["items"], v) for v in value]
    return value


class CelRules:
    """Evaluates `x-kubernetes-validations` with cel-python when it is installed."""

    def __init__(self) -> None:
        try:
            import celpy
        except ImportError:  # the emulator still works; CEL rules are then not checked
            self._celpy = None
            log.warning("cel-python is not installed: x-kubernetes-validations are not evaluated")
        else:
            self._celpy = celpy
        self._compiled: dict[str, Any] = {}

    def check(self, schema: dict[str, Any], value: Any, path: str, causes: list[Cause]) -> None:
        if self._celpy is None or value is None:
            return
        rules = schema.get("x-kubernetes-validations") or ()
        bound = numbers_as_doubles(schema, value) if rules else value
        for rule in rules:
            if not self._holds(rule["rule"], bound):
                field = path + rule.get("fieldPath", "") if rule.get("fieldPath") else path
                causes.append(Cause(field.lstrip("."), rule.get("message") or f"failed rule: {rule['rule']}"))
        if isinstance(value, dict):
            for name, sub in (schema.get("properties") or {}).items():
                if name in value:
                    self.check(sub, value[name], f"{path}.{name}", causes)
        elif isinstance(value, list) and isinstance(schema.get("items"), dict):
            for i, item in enumerate(value):
                self.check(schema["items"], item, f"{path}[{i}]", causes)

    def _holds(self, rule: str, value: Any) -> bool:
        celpy = self._celpy
        program = self._compiled.get(rule)
        if program is None:
            env = celpy.Environment()
            program = env.program(env.compile(rule))
            self._compiled[rule] = program
        result = program.evaluate({"self": celpy.json_to_cel(value)})
        if isinstance(result, Exception):
            raise result
        return bool(result)


class CustomResourceSchema:
    """One served version of a CRD: default, prune and validate objects of it."""

    def __init__(self, openapi: dict[str, Any], cel: CelRules):
        self.openapi = openapi
        self._validator = _Validator(_to_json_schema(openapi), format_checker=FORMATS)
        self._cel = cel
        self._cel_verdicts: dict[str, list[Cause]] = {}  # by spec JSON: CEL in Python is slow

    def admit(self, obj: dict[str, Any], strict: bool = False) -> list[Cause]:
        """Default and prune `obj` in place; return the problems (empty when it is valid)."""
        unknown: list[str] = []
        apply_defaults(self.openapi, obj)
        for part in ("spec", "status"):
            if part in obj and part in (self.openapi.get("properties") or {}):
                obj[part] = prune(self.openapi["properties"][part], obj[part], part, unknown)
        causes = [Cause(f, "field not declared in schema") for f in unknown] if strict else []
        for error in self._validator.iter_errors(obj):
            field = ".".join(str(p) for p in error.absolute_path) or "<root>"
            causes.append(Cause(field, error.message))
        spec_schema = (self.openapi.get("properties") or {}).get("spec")
        if not causes and spec_schema and "spec" in obj:  # CEL only on structurally valid objects
            key = json.dumps(obj["spec"], sort_keys=True)
            verdict = self._cel_verdicts.get(key)
            if verdict is None:
                verdict = []
                self._cel.check(spec_schema, obj["spec"], "spec", verdict)
                if len(self._cel_verdicts) > 10000:
                    self._cel_verdicts.clear()
                self._cel_verdicts[key] = verdict
            causes.extend(verdict)
            if not verdict:
                causes.extend(self._root_rules(obj))
        return causes

    def _root_rules(self, obj: dict[str, Any]) -> list[Cause]:
        """Root-level rules see the object, but of its metadata only name and generateName (as
        the apiserver binds them); their fieldPath is from the root."""
        rules = {k: v for k, v in self.openapi.items() if k == "x-kubernetes-validations"}
        if not rules:
            return []
        meta = {k: v for k, v in (obj.get("metadata") or {}).items() if k in ("name", "generateName")}
        causes: list[Cause] = []
        self._cel.check(rules, {**{k: v for k, v in obj.items() if k != "metadata"}, "metadata": meta}, "", causes)
        return causes
