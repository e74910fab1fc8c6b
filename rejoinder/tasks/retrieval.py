"""Retrieval: a dual encoder (BERT or QA-LSTM towers) trained with in-batch softmax over
(context, response) pairs; served as Retrieve/Respond over a FAISS index of candidate responses."""

from __future__ import annotations

from typing import Any, Optional

from ..api.spec import Architecture, Task
from ..text.formats import DialogPair, RecordKind
from .base import RESPOND, RETRIEVE, EvaluationInputs, TaskDefinition


class Retrieval(TaskDefinition):
    task = Task.retrieval
    record_kind = RecordKind.pairs
    builds_index = True
    candidate_pool = True
    input_kinds = ("context", "response")
    methods = (RETRIEVE, RESPOND)

    def input_lengths(self, config):
        n = config.sequence.max_seq_length
        return {"context_ids": n, "response_ids": n}

    def features(self, featurizer, architecture, records):
        from ..text.features import only

        rs = only(records, DialogPair, self.task)
        return {
            "context_ids": featurizer.contexts([r.context for r in rs]),
            "response_ids": featurizer.responses([r.response for r in rs]),
            # the context's newest turn, as a reply: training.contrastiveLoss.echoNegatives
            "echo_ids": featurizer.responses([r.context[-1] for r in rs]),
        }

    def preset(self, spec, resolve_dialog_model):
        from ..datasets.presets import pairs_preset

        return pairs_preset(spec)

    def head(self, config):
        from ..models import heads

        return heads.DualEncoder(config)

    def embedding_dim(self, config) -> Optional[int]:
        if config.architecture == Architecture.qa_lstm:
            assert config.qa_lstm is not None
            return 2 * config.qa_lstm.hidden_units
        assert config.bert is not None
        return config.projection_dim or config.bert.hidden

    def training_task(self, model, seed, tokenizer, seq_length, pool=None, loss=None):
        from ..training.tasks import RetrievalTask

        return RetrievalTask(model, seed, pool, loss)

    def evaluate(self, inputs: EvaluationInputs) -> dict[str, Any]:
        from ..training import evaluation

        from ..training.embedding_cache import EmbeddingCache

        p = inputs.prepared
        cache = EmbeddingCache(inputs.cache_dir) if inputs.cache_dir is not None else None
        return evaluation.evaluate_retrieval(inputs.training_task.model, inputs.featurizer, p.train(),
                                             inputs.held, p.candidates(), inputs.start_model(), test=inputs.test,
                                             cache=cache, seed=inputs.seed)


DEFINITION = Retrieval()
