"""Every task and architecture trains a few steps through `rejoinder.training.pipeline.train`,
covering the precision (float16 with loss scaling, bfloat16) and XLA paths, and ends with a
metrics report, an exported bundle and a final checkpoint."""

from __future__ import annotations

import math

import pytest

from rejoinder.api import parse_dialog_model
from rejoinder.models.bundle import load_bundle
from rejoinder.training.checkpoints import CheckpointStore
from rejoinder.training.pipeline import TrainOptions, train, version_layout

from conftest import tiny_model

CASES = [
    # task, architecture, mixedPrecision, xla, metric reported
    ("retrieval", "bert", "float16", False, "recall@5"),
    ("retrieval", "qa-lstm", "none", True, "map"),
    ("reranking", "bert", "bfloat16", True, "roc_auc"),
    ("reranking", "qa-lstm", "none", False, "accuracy"),
    ("session-scoring", "bert", "none", True, "accuracy"),
    ("pretraining", "bert", "float16", True, "mlm_accuracy"),
]


@pytest.mark.slow
@pytest.mark.parametrize("task,arch,precision,xla,metric", CASES, ids=[f"{c[0]}-{c[1]}-{c[2]}-xla{c[3]}" for c in CASES])
def test_task_trains_evaluates_and_exports(storage, task, arch, precision, xla, metric):
    obj = tiny_model("m", storage, task=task, model={"architecture": arch},
                     training={"mixedPrecision": precision, "xla": xla, "steps": 6})
    model = parse_dialog_model(obj)
    options = TrainOptions(artifacts=storage, namespace="default", use_horovod=False)
    report = train(model, options)

    assert report is not None
    value = report["metrics"][metric]
    assert math.isfinite(value) and 0.0 <= value <= 1.0
    training = report["training"]
    assert training["precision"] == {"none": "float32"}.get(precision, precision)
    assert training["lossScaling"] is (precision == "float16")  # dynamic loss scaling for float16 only
    assert training["xla"] is xla and training["steps"] == 6
    assert all(math.isfinite(loss) for _, loss in training["losses"])

    layout = version_layout(model, options)
    assert CheckpointStore(layout.checkpoints_dir).latest().step == 6
    assert layout.trained
    if task != "pretraining":  # pretraining bundles are an init source, not served
        bundle = load_bundle(layout.export_dir)
        assert bundle.manifest["metrics"][metric] == pytest.approx(value)
        kind = bundle.kinds[0]
        probe = {"context": ([["hi there"]],), "pair": ([["hi"]], ["hello"]), "session": ([["hi", "hello"]],)}[kind]
        out = bundle.run(kind, bundle.tokenize(kind, *probe))
        assert out.shape[0] == 1

    # A second run finds the version finished and does nothing.
    again = train(model, options)
    assert again["metrics"] == report["metrics"]
