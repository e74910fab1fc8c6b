"""Each task module's featurization gives exactly the arrays (names and widths) its model's
inputs are declared with, so what training writes into shards is what the head is built for."""

from __future__ import annotations

import pytest

from rejoinder.api.spec import Task
from rejoinder.models.config import ModelConfig, model_config_from_spec
from rejoinder.tasks import task_module
from rejoinder.text.features import Featurizer, SequenceConfig
from rejoinder.text.formats import DialogPair, Reaction, Session

from models_spec_helpers import tiny_spec

RECORDS = {
    Task.retrieval: [DialogPair(("hi", "how are you"), "fine")],
    Task.reranking: [Reaction(("hi",), "hello", True)],
    Task.session_scoring: [Session(("hi", "hello", "bye"), True)],
    Task.pretraining: [DialogPair(("hi",), "hello")],
}
CASES = [(t, a) for t in Task for a in ("bert", "qa-lstm") if not (t == Task.pretraining and a == "qa-lstm")]


@pytest.mark.parametrize("task,arch", CASES, ids=[f"{t.value}-{a}" for t, a in CASES])
def test_features_match_the_declared_model_inputs(task, arch, bpe_400):
    spec = tiny_spec(task.value, arch)
    config = model_config_from_spec(spec, bpe_400)
    assert config.task is task and ModelConfig.from_json(config.to_json()) == config
    features = Featurizer(bpe_400, SequenceConfig.from_spec(spec)).records(
        task, config.architecture, RECORDS[task])
    definition = task_module(task)
    declared = {**definition.input_lengths(config), **definition.training_only_lengths(config)}
    assert {k: v.shape[1] for k, v in features.items() if k != "label"} == declared
    assert ("label" in features) == (task in (Task.reranking, Task.session_scoring))
