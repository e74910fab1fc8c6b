"""The committed CRD is exactly what the generator produces, and it is a structural schema."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import celpy
import yaml

from rejoinder.api.crd import render_crd
from rejoinder.cli import main

ROOT = Path(__file__).resolve().parents[2]
CRD_FILE = ROOT / "crds" / "dialogmodel.yaml"

# Keys a structural OpenAPI v3 schema node may carry in a CRD (apiextensions.k8s.io/v1 JSONSchemaProps).
ALLOWED_KEYS = {
    "type", "format", "description", "default", "enum", "maximum", "minimum", "exclusiveMaximum",
    "exclusiveMinimum", "maxLength", "minLength", "pattern", "maxItems", "minItems", "uniqueItems",
    "maxProperties", "minProperties", "required", "items", "properties", "additionalProperties",
    "nullable", "x-kubernetes-int-or-string", "x-kubernetes-preserve-unknown-fields",
    "x-kubernetes-validations", "x-kubernetes-list-type", "x-kubernetes-list-map-keys",
    "x-kubernetes-map-type", "x-kubernetes-embedded-resource", "anyOf", "allOf", "oneOf", "not",
}


def _nodes(schema: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    yield path, schema
    for name, sub in schema.get("properties", {}).items():
        yield from _nodes(sub, f"{path}.{name}")
    if isinstance(schema.get("items"), dict):
        yield from _nodes(schema["items"], f"{path}[]")
    if isinstance(schema.get("additionalProperties"), dict):
        yield from _nodes(schema["additionalProperties"], f"{path}{{}}")


def _schema() -> dict[str, Any]:
    crd = yaml.safe_load(CRD_FILE.read_text())
    return crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


def test_committed_crd_matches_generator() -> None:
    assert CRD_FILE.read_text() == render_crd(), "crds/dialogmodel.yaml drifted: run `rejoinder crd -o crds/dialogmodel.yaml`"


def test_crd_verb_prints_the_generated_crd(capsys) -> None:
    assert main(["crd"]) == 0
    assert capsys.readouterr().out == render_crd()


def test_schema_is_structural() -> None:
    for path, node in _nodes(_schema()):
        unknown = set(node) - ALLOWED_KEYS
        assert not unknown, f"{path or '<root>'}: keys not allowed in a CRD schema: {unknown}"
        assert "$ref" not in node
        if not node.get("x-kubernetes-int-or-string") and not node.get("x-kubernetes-preserve-unknown-fields"):
            assert "type" in node, f"{path or '<root>'}: every node needs a type"
        assert not ("properties" in node and "additionalProperties" in node), f"{path}: both properties and additionalProperties"
        for key in ("exclusiveMinimum", "exclusiveMaximum"):
            if key in node:
                assert isinstance(node[key], bool), f"{path}: OpenAPI v3.0 uses boolean {key}"


def test_crd_has_status_subresource_printer_columns_and_short_name() -> None:
    crd = yaml.safe_load(CRD_FILE.read_text())
    version = crd["spec"]["versions"][0]
    assert version["subresources"] == {"status": {}}
    columns = {c["name"]: c["jsonPath"] for c in version["additionalPrinterColumns"]}
    assert columns["Task"] == ".spec.task"
    assert columns["Phase"] == ".status.phase"
    assert columns["Version"] == ".status.servingVersion"
    assert columns["Ready"] == ".status.readyReplicas"
    assert columns["RPS"] == ".status.rps"
    assert columns["Age"] == ".metadata.creationTimestamp"
    assert crd["spec"]["names"]["shortNames"] == ["dm"]
    status = _schema()["properties"]["status"]["properties"]
    for field in ("phase", "conditions", "observedGeneration", "trainedVersion", "servingVersion",
                  "metrics", "replicas", "readyReplicas", "rps", "endpoint"):
        assert field in status
    condition = status["conditions"]["items"]["properties"]
    assert {"type", "status", "reason", "message", "lastTransitionTime", "observedGeneration"} <= set(condition)


def test_every_cel_rule_compiles() -> None:
    env = celpy.Environment()
    rules = [r["rule"] for _, node in _nodes(_schema()) for r in node.get("x-kubernetes-validations", [])]
    assert len(rules) >= 10
    for rule in rules:
        env.program(env.compile(rule))


def test_nested_objects_default_so_the_apiserver_fills_them() -> None:
    spec = _schema()["properties"]["spec"]["properties"]
    # the fully defaulted object, not {}: the apiserver checks a default against its level's CEL
    # rules (`self.minReplicas <= self.maxReplicas`) without filling in the nested defaults first
    assert spec["serving"]["default"]["minReplicas"] == 1 and spec["serving"]["default"]["topK"] == 20
    assert spec["index"]["default"]["ivf"] == {"nlist": 1024, "nprobe": 64}
    assert spec["model"]["default"]["bert"]["hidden"] % spec["model"]["default"]["bert"]["heads"] == 0
    assert spec["serving"]["properties"]["topK"]["default"] == 20
    assert spec["model"]["properties"]["bert"]["properties"]["maxSeqLength"]["default"] == 80
    assert spec["model"]["properties"]["bert"]["properties"]["contextLength"]["default"] == 60
    assert spec["model"]["properties"]["bert"]["properties"]["responseLength"]["default"] == 20


def test_every_object_default_is_what_its_properties_default_to() -> None:
    """Each object's default equals what the apiserver would make of `{}` there, so a default
    never says anything the nested defaults do not (and every CEL rule can read its fields)."""
    for path, node in _nodes(_schema()):
        if isinstance(node.get("default"), dict) and "properties" in node:
            expected = {k: sub["default"] for k, sub in node["properties"].items() if "default" in sub}
            assert node["default"] == expected, path
