"""Check a custom resource the way the kube-apiserver would, offline.

The apiserver (1) fills in `default`s of the structural schema, (2) rejects unknown fields under
strict field validation (kubectl's default), (3) validates the OpenAPI v3 schema, and (4) evaluates
the CEL `x-kubernetes-validations` rules. This does the same with `jsonschema` and `cel-python`.
"""

from __future__ import annotations

import copy
from typing import Any, Iterator

import celpy
import jsonschema


def apply_defaults(schema: dict[str, Any], obj: Any) -> Any:
    obj = copy.deepcopy(obj)
    _default_into(schema, obj)
    return obj


def _default_into(schema: dict[str, Any], obj: Any) -> None:
    if isinstance(obj, dict):
        for name, sub in schema.get("properties", {}).items():
            if name not in obj and "default" in sub:
                obj[name] = copy.deepcopy(sub["default"])
            if name in obj:
                _default_into(sub, obj[name])
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            for value in obj.values():
                _default_into(extra, value)
    elif isinstance(obj, list) and isinstance(schema.get("items"), dict):
        for item in obj:
            _default_into(schema["items"], item)


def _strict(schema: Any) -> Any:
    """Unknown fields are errors (kubectl's default strict field validation)."""
    if isinstance(schema, dict):
        out = {k: _strict(v) for k, v in schema.items()}
        if "properties" in schema and "additionalProperties" not in schema and not schema.get(
            "x-kubernetes-preserve-unknown-fields"
        ):
            out["additionalProperties"] = False
        if schema.get("x-kubernetes-int-or-string"):
            out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
        return out
    if isinstance(schema, list):
        return [_strict(v) for v in schema]
    return schema


def _cel_failures(schema: dict[str, Any], obj: Any, path: str) -> Iterator[tuple[str, str]]:
    env = celpy.Environment()
    for rule in schema.get("x-kubernetes-validations", []):
        program = env.program(env.compile(rule["rule"]))
        if not bool(program.evaluate({"self": celpy.json_to_cel(obj)})):
            yield path + rule.get("fieldPath", ""), rule["message"]
    if isinstance(obj, dict):
        for name, sub in schema.get("properties", {}).items():
            if name in obj:
                yield from _cel_failures(sub, obj[name], f"{path}.{name}")
    elif isinstance(obj, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(obj):
            yield from _cel_failures(schema["items"], item, f"{path}[{i}]")


def crd_problems(open_api_schema: dict[str, Any], obj: dict[str, Any]) -> list[tuple[str, str]]:
    """(field path, message) for everything the apiserver would reject; [] when it would accept."""
    defaulted = apply_defaults(open_api_schema, obj)
    strict = _strict(open_api_schema)
    strict.get("properties", {}).get("metadata", {}).pop("additionalProperties", None)  # ObjectMeta is open
    validator = jsonschema.Draft4Validator(strict)
    problems = [
        ("." + ".".join(str(p) for p in err.absolute_path), err.message)
        for err in validator.iter_errors(defaulted)
    ]
    if problems:  # CEL only runs on objects that pass the schema
        return problems
    return list(_cel_failures(open_api_schema, defaulted, ""))
