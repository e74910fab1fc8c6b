"""The apiserver itself checks DialogModels with the CRD's OpenAPI schema and CEL rules: every
invalid spec of the corpus (tests/api/test_api_invalid_specs.py) is refused naming the field that
`rejoinder validate` names, and every example is accepted. Dry runs (nothing is stored), with
kubectl's field validation (Strict: an unknown field is an error, not a warning)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from rejoinder.api import InvalidDialogModel, parse_dialog_model
from tests.api.test_api_invalid_specs import CASES, _doc
from tests.controlplane.cluster import ControlPlane
from tests.controlplane.kube import raw
from tests.realcluster import dialogmodels as dm
from tests.realcluster.chart import Release

pytestmark = pytest.mark.realcluster
NAMESPACE = "default"  # dry runs store nothing: no namespace of its own needed


def submit(api: client.ApiClient, doc: dict[str, Any]) -> dict[str, Any]:
    return raw(client.CustomObjectsApi(api).create_namespaced_custom_object, dm.GROUP, dm.VERSION, NAMESPACE,
               dm.PLURAL, dm.into(NAMESPACE, doc), dry_run="All", field_validation="Strict")


def refused_fields(error: ApiException) -> tuple[int, list[str]]:
    """The status code and the fields the apiserver's answer names (422: its causes; 400 from
    strict field validation: the `unknown field "<path>"` in its message)."""
    body = json.loads(error.body)
    if error.status == 422:
        return 422, [c.get("field", "") for c in (body.get("details") or {}).get("causes") or []]
    return error.status, [part.split('"')[1] for part in body.get("message", "").split("unknown field ")[1:]]


def validate_fields(doc: dict[str, Any]) -> list[str]:
    with pytest.raises(InvalidDialogModel) as refused:
        parse_dialog_model(doc, "case.yaml")
    return [p.path for p in refused.value.problems]


@pytest.mark.parametrize("changes,field", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_the_apiserver_refuses_it_naming_validates_field(control_plane: ControlPlane, chart: Release,
                                                        changes: dict[str, Any], field: str) -> None:
    doc = _doc(changes)
    assert field in validate_fields(doc)
    with pytest.raises(ApiException) as refused:
        submit(control_plane.api(), doc)
    code, fields = refused_fields(refused.value)
    assert code in (400, 422) and field in fields, (code, fields, refused.value.body)


@pytest.mark.parametrize("file", sorted(p.name for p in dm.EXAMPLES.glob("*.yaml")))
def test_every_example_is_accepted(control_plane: ControlPlane, chart: Release, file: str) -> None:
    for doc in dm.example(file):
        stored = submit(control_plane.api(), doc)
        assert stored["spec"]["task"] == doc["spec"]["task"]
