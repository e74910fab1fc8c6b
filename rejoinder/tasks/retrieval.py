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

    def training_only_lengths(self, config):
        # the context's newest turn as a reply, a negative: training.contrastiveLoss.echoNegatives
        return {"echo_ids": config.sequence.max_seq_length}

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
        from ..training.served_encoders import served_bundle, start_bundle

        p = inputs.prepared
        cache = EmbeddingCache(inputs.cache_dir) if inputs.cache_dir is not None else None
        start_model = inputs.start_model()
        start = None if start_model is None else evaluation.StartModel(
            start_model, lambda: start_bundle(start_model, inputs.featurizer.tokenizer, inputs.spec, inputs.version))
        if inputs.export_dir is not None:  # what is served: the export, as the spec's server would load it
            encoder, engine = served_bundle(inputs.export_dir, inputs.spec)
        else:  # no export yet (benchmarks scoring a model in memory): the Keras model itself
            encoder, engine = KerasEncoder(inputs.training_task.model, inputs.featurizer), "keras float32"
        candidates = p.candidates()
        keep = None
        if inputs.export_dir is not None:
            def keep(contexts, pool):  # the index reuses them (rejoinder/models/stored_embeddings.py)
                from ..models import stored_embeddings

                runtime, precision = stored_embeddings.engine_of(encoder)
                held = list(inputs.held)
                stored_embeddings.save(inputs.export_dir.parent, version=inputs.version, runtime=runtime,
                                       precision=precision, texts=[c.text for c in candidates], pool=pool,
                                       contexts=[h.context for h in held], context_vectors=contexts[:len(held)])
        report = evaluation.evaluate_retrieval(encoder, inputs.featurizer, p.train(), inputs.held, candidates, start,
                                               test=inputs.test, cache=cache, seed=inputs.seed, keep=keep)
        report["engine"] = engine
        return report


class KerasEncoder:
    """A dual encoder in memory behind the bundle's encode_* methods (evaluation's predict)."""

    def __init__(self, model: Any, featurizer: Any):
        self.model, self.featurizer = model, featurizer

    def encode_contexts(self, contexts):
        from ..training.evaluation import _pad_id, predict

        return predict(lambda f: self.model.encode_context(f["context_ids"]),
                       {"context_ids": self.featurizer.contexts(contexts)}, pad_id=_pad_id(self.model), desc="contexts")

    def encode_responses(self, texts):
        from ..training.evaluation import _pad_id, predict

        return predict(lambda f: self.model.encode_response(f["response_ids"]),
                       {"response_ids": self.featurizer.responses(texts)}, pad_id=_pad_id(self.model), desc="candidates")


DEFINITION = Retrieval()
