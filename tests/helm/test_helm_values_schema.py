"""values.schema.json: helm refuses wrong types and unknown keys before rendering anything."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from tests.helm.helm_support import CHART, RELEASE, helm, value_args
from tests.helm.helm_values import MINIMAL, NON_DEFAULT

SCHEMA = json.loads((CHART / "values.schema.json").read_text())

# (values, the JSON path helm must name in its error)
WRONG = [
    ({"operator": {"healthPort": "8080"}}, "/operator/healthPort"),
    ({"operator": {"healthPort": 70000}}, "/operator/healthPort"),
    ({"operator": {"watchNamespaces": "dialog"}}, "/operator/watchNamespaces"),
    ({"operator": {"watchNamespaces": ["Not_A_Namespace"]}}, "/operator/watchNamespaces/0"),
    ({"operator": {"logLevel": "verbose"}}, "/operator/logLevel"),
    ({"operator": {"workloadRunAsUser": 0}}, "/operator/workloadRunAsUser"),
    ({"operator": {"resyncSeconds": "10s"}}, "/operator/resyncSeconds"),
    ({"operator": {"prometheusUrl": "prometheus:9090"}}, "/operator/prometheusUrl"),
    ({"operator": {"resources": {"limits": {"memory": "lots"}}}}, "/operator/resources/limits/memory"),
    ({"operator": {"nodeSelector": {"gpu": True}}}, "/operator/nodeSelector/gpu"),
    ({"operator": {"replicas": 2}}, "/operator"),  # unknown key: one replica is fixed
    ({"image": {"tag": 1.2}}, "/image/tag"),
    ({"image": {"pullPolicy": "Sometimes"}}, "/image/pullPolicy"),
    ({"serviceAccount": {"create": "yes"}}, "/serviceAccount/create"),
    ({"rbac": {"create": 1}}, "/rbac/create"),
    ({"securityContext": {"runAsUser": 0}}, "/securityContext/runAsUser"),
    ({"securityContext": {"runAsNonRoot": False}}, "/securityContext"),
    ({"serviceMonitor": {"enabled": "true"}}, "/serviceMonitor/enabled"),
    ({"serviceMonitor": {"interval": 30}}, "/serviceMonitor/interval"),
    ({"prometheusRule": {"errorRatio": 5}}, "/prometheusRule/errorRatio"),
    ({"grafanaDashboard": {"labels": ["grafana_dashboard"]}}, "/grafanaDashboard/labels"),
    ({"networkPolicy": {"apiServerCidrs": ["10.0.0.1"]}}, "/networkPolicy/apiServerCidrs/0"),
    ({"networkPolicy": {"apiServerPorts": []}}, "/networkPolicy/apiServerPorts"),
    ({"replicaCount": 3}, "''"),
]


@pytest.mark.parametrize("values,path", WRONG, ids=[p + ":" + json.dumps(v)[:40] for v, p in WRONG])
def test_helm_rejects_wrong_values(values: dict[str, Any], path: str, tmp_path: Path) -> None:
    result = helm("template", RELEASE, str(CHART), *value_args(values, tmp_path), check=False)
    assert result.returncode != 0, f"helm accepted {values}"
    assert "values don't meet the specifications of the schema" in result.stderr
    assert f"at '{path.strip(chr(39))}'" in result.stderr, result.stderr


def _merged(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Helm's coalescing of a values file over values.yaml (maps merge, everything else replaces)."""
    out = dict(base)
    for key, value in override.items():
        out[key] = _merged(base[key], value) if isinstance(value, dict) and isinstance(base.get(key), dict) else value
    return out


def test_schema_accepts_the_defaults_and_the_test_values() -> None:
    """The same schema read by a second implementation (python-jsonschema), as helm merges values."""
    validator = jsonschema.Draft7Validator(SCHEMA)
    defaults = yaml.safe_load((CHART / "values.yaml").read_text())
    for values in ({}, NON_DEFAULT, MINIMAL):
        assert not [e.message for e in validator.iter_errors(_merged(defaults, values))]
    assert list(validator.iter_errors(_merged(defaults, WRONG[0][0])))


def test_every_default_value_is_described_by_the_schema() -> None:
    """A key in values.yaml the schema does not list would make additionalProperties refuse it."""
    defaults = yaml.safe_load((CHART / "values.yaml").read_text())

    def walk(values: dict[str, Any], schema: dict[str, Any], at: str) -> None:
        props = schema.get("properties", {})
        for key, value in values.items():
            assert key in props or schema.get("additionalProperties") is not False, f"{at}.{key} not in schema"
            sub = props.get(key, {})
            if isinstance(value, dict) and "properties" in sub:
                walk(value, sub, f"{at}.{key}")

    walk(defaults, SCHEMA, "")


def test_values_yaml_documents_each_top_level_key() -> None:
    lines = (CHART / "values.yaml").read_text().splitlines()
    for number, line in enumerate(lines):
        if line and not line.startswith((" ", "#")):
            assert lines[number - 1].startswith("#") or lines[number - 1] == "" and lines[number - 2].startswith("#"), \
                f"values.yaml: {line.split(':')[0]} has no comment above it"
