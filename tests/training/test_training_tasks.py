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

from training_support import tiny_model

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
    if task == "retrieval":  # random initial weights: no start to compare with, lexical baselines always
        assert "init" not in report["baselines"] and "gainOverStart" not in report
        assert {"bm25", "tfidf", "random"} <= set(report["baselines"])

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


@pytest.mark.slow
def test_retrieval_starts_from_a_pretrained_dialog_model_and_its_tokenizer(storage):
    """The seed's recipe: masked-LM pretraining, then a dual encoder initialised from it
    (init.dialogModel), reusing the pretraining model's BPE so embedding rows keep their ids."""
    options = TrainOptions(artifacts=storage, namespace="default", use_horovod=False)
    pre = parse_dialog_model(tiny_model("chat-bert", storage, task="pretraining", training={"steps": 4}))
    train(pre, options)
    retrieval = parse_dialog_model(tiny_model("retr", storage, model={"init": {"dialogModel": "chat-bert"}},
                                              training={"steps": 4}))
    report = train(retrieval, options)
    assert report["training"]["steps"] == 4
    # The untrained start (the pretraining model's encoder, same tokenizer and pooling) is scored
    # on the same held-out split, next to BM25, and the gain over it is reported.
    start, model_metrics = report["baselines"]["init"], report["metrics"]
    assert set(start) == set(model_metrics) and start != model_metrics
    assert report["gainOverStart"] == pytest.approx({k: model_metrics[k] - start[k] for k in model_metrics})
    assert {"init_recall@5", "gain_recall@5", "bm25_recall@5", "tfidf_recall@5"} <= set(report["flat"])

    pre_tok = version_layout(pre, options).tokenizer_dir / "bpe.model"
    retr_tok = version_layout(retrieval, options).tokenizer_dir / "bpe.model"
    assert retr_tok.read_bytes() == pre_tok.read_bytes()

    missing = parse_dialog_model(tiny_model("orphan", storage, model={"init": {"dialogModel": "nobody"}}))
    with pytest.raises(FileNotFoundError, match="train that DialogModel first"):
        train(missing, options)
