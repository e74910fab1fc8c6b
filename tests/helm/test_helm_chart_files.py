"""Files the chart carries that must match their source: the CRD, the dashboard, NOTES' example."""

from __future__ import annotations

import json
import re
import subprocess
import tarfile
from pathlib import Path

import yaml

from rejoinder.api import load_dialog_models
from tests.helm.helm_support import CHART, REPO, helm, python
from tests.support.crd_schema import crd_problems

CRD = REPO / "crds" / "dialogmodel.yaml"


def test_chart_crd_is_identical_to_the_generated_crd() -> None:
    """helm/rejoinder/crds/ is a copy (a symlink would not survive `helm package`)."""
    chart_crd = CHART / "crds" / "dialogmodel.yaml"
    assert not chart_crd.is_symlink()
    assert chart_crd.read_bytes() == CRD.read_bytes(), (
        "helm/rejoinder/crds/dialogmodel.yaml differs from crds/dialogmodel.yaml: "
        "cp crds/dialogmodel.yaml helm/rejoinder/crds/"
    )


def test_packaged_chart_contains_the_crd_and_dashboard(tmp_path: Path) -> None:
    helm("package", str(CHART), "--destination", str(tmp_path))
    (archive,) = tmp_path.glob("rejoinder-*.tgz")
    with tarfile.open(archive) as tar:
        names = set(tar.getnames())
        assert tar.extractfile("rejoinder/crds/dialogmodel.yaml").read() == CRD.read_bytes()
    assert {"rejoinder/dashboards/rejoinder.json", "rejoinder/values.schema.json",
            "rejoinder/files/operator-permissions.yaml", "rejoinder/templates/NOTES.txt"} <= names


def test_dashboard_json_is_what_the_generator_writes() -> None:
    result = subprocess.run(
        [python(), "-c", "import runpy, sys; m = runpy.run_path(sys.argv[1]); print(m['render'](), end='')",
         str(REPO / "helm" / "tools" / "make_dashboard.py")],
        capture_output=True, text=True, check=True,
    )
    committed = (CHART / "dashboards" / "rejoinder.json").read_text()
    assert committed == result.stdout, "run: python helm/tools/make_dashboard.py"


def test_dashboard_covers_what_the_issue_asks_for() -> None:
    dashboard = json.loads((CHART / "dashboards" / "rejoinder.json").read_text())
    titles = " | ".join(p["title"].lower() for p in dashboard["panels"])
    for topic in ("requests per second", "latency", "batch size", "replicas", "training"):
        assert topic in titles, f"no dashboard panel about {topic}"
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for p in dashboard["panels"]:
        assert p["targets"] and all(t["expr"].count("(") == t["expr"].count(")") for t in p["targets"])


def _notes_example(rendered_notes: str) -> str:
    """The DialogModel NOTES.txt tells the user to apply (the heredoc between <<'YAML' and YAML)."""
    match = re.search(r"<<'YAML'.*?\n(.*?)\n\s*YAML\n", rendered_notes, re.S)
    assert match, rendered_notes
    return match.group(1)


def test_notes_example_dialog_model_is_valid(tmp_path: Path) -> None:
    notes = helm("install", "rj", str(CHART), "--dry-run=client", "--namespace", "rejoinder-system").stdout
    notes = notes[notes.index("NOTES:"):]
    example = tmp_path / "hello.yaml"
    example.write_text(_notes_example(notes))
    (model,) = load_dialog_models(example)  # the same check as `rejoinder validate`
    assert model.metadata.name == "hello"
    crd = yaml.safe_load(CRD.read_text())
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    assert crd_problems(schema, yaml.safe_load(example.read_text())) == []
    assert "kubectl get dialogmodels" in notes
