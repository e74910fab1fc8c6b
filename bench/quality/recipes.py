"""One retrieval recipe = the quickstart DialogModel with some spec fields changed, trained by
the real `rejoinder train` pipeline in this process (one rank, no Horovod) on its own split.

Every run writes under its own artifacts root, so nothing is shared between recipes except the
chatterbot corpus; the report is the pipeline's metrics.json (model, init_*, bm25, tfidf).
"""

from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Any, Mapping

import yaml

ROOT = Path(__file__).resolve().parents[2]
QUICKSTART = ROOT / "examples" / "quickstart.yaml"


def quickstart_wire() -> dict[str, Any]:
    return yaml.safe_load(QUICKSTART.read_text(encoding="utf-8"))


def with_overrides(wire: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """`overrides` maps dotted wire paths under spec ("training.steps") to values; None removes
    the field."""
    out = copy.deepcopy(dict(wire))
    for dotted, value in overrides.items():
        node = out["spec"]
        *parents, leaf = dotted.split(".")
        for key in parents:
            node = node.setdefault(key, {})
        if value is None:
            node.pop(leaf, None)
        else:
            node[leaf] = value
    return out


def train_recipe(overrides: Mapping[str, Any], seed: int, artifacts: Path, name: str = "recipe") -> dict[str, Any]:
    """Train the quickstart with `overrides` and training.seed `seed`; the metrics report, plus
    the wall time of the whole run (data, tokenizer, training, evaluation, export)."""
    from rejoinder.api import DialogModel
    from rejoinder.training.pipeline import TrainOptions, train

    wire = with_overrides(quickstart_wire(), {**overrides, "training.seed": seed, "storage.path": str(artifacts)})
    wire["metadata"]["name"] = name
    model = DialogModel.model_validate(wire)
    started = time.perf_counter()
    report = train(model, TrainOptions(artifacts=artifacts, namespace="bench", use_horovod=False))
    assert report is not None
    report["wallSeconds"] = round(time.perf_counter() - started, 1)
    return report


def untrained_start(overrides: Mapping[str, Any], seed: int, artifacts: Path) -> dict[str, Any]:
    """The quickstart's starting model with `overrides` (e.g. layers kept, pooling), not trained
    at all, scored on seed `seed`'s held-out split exactly as training's evaluation scores a
    model: seconds instead of a training run, for the levers that act on the start itself."""
    from rejoinder.api import DialogModel
    from rejoinder.models.bundle import build_for_spec
    from rejoinder.text.features import Featurizer, SequenceConfig
    from rejoinder.text.from_spec import tokenizer_for_spec
    from rejoinder.training import evaluation
    from rejoinder.training.data_prep import prepare_data

    wire = with_overrides(quickstart_wire(), {**overrides, "training.seed": seed, "storage.path": str(artifacts)})
    spec = DialogModel.model_validate(wire).spec
    data = prepare_data(spec, artifacts / "data")
    tokenizer = tokenizer_for_spec(spec, artifacts / "tokenizer", base_dir=artifacts)
    model, _ = build_for_spec(spec, tokenizer, base_dir=artifacts)
    featurizer = Featurizer(tokenizer, SequenceConfig.from_spec(spec))
    from rejoinder.tasks.retrieval import KerasEncoder

    report = evaluation.evaluate_retrieval(KerasEncoder(model, featurizer), featurizer, data.train(), data.eval(),
                                           data.candidates())
    return report
