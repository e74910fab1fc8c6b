"""Pretraining: BERT masked-LM over every utterance the data holds (80/10/10 corruption of 15 %
of the positions); never served: its encoder initialises the other tasks' models."""

from __future__ import annotations

from typing import Any

from ..api.spec import Architecture, Task
from .base import EvaluationInputs, TaskDefinition


class Pretraining(TaskDefinition):
    task = Task.pretraining
    architectures = (Architecture.bert,)
    record_kind = None  # reads the utterances of any record kind
    served = False

    def input_lengths(self, config):
        return {"input_ids": config.sequence.max_seq_length}

    def features(self, featurizer, architecture, records):
        from ..text.features import pretraining_texts

        return {"input_ids": featurizer.texts(pretraining_texts(records))}

    def preset(self, spec, resolve_dialog_model):
        from ..datasets.presets import messages_preset

        return messages_preset(spec)

    def head(self, config):
        from ..models import heads

        return heads.MaskedLM(config)

    def training_task(self, model, seed, tokenizer, seq_length, pool=None, loss=None):
        from ..training.tasks import MaskedLMTask

        return MaskedLMTask(model, seed, tokenizer.special, tokenizer.vocab_size, seq_length)

    def evaluate(self, inputs: EvaluationInputs) -> dict[str, Any]:
        from ..training import evaluation

        features = self.features(inputs.featurizer, inputs.architecture, inputs.held)
        return evaluation.evaluate_masked_lm(inputs.training_task.model, inputs.training_task,
                                             features["input_ids"], inputs.seed)


DEFINITION = Pretraining()
