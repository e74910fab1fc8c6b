"""What every task module defines: the one place a task's inputs, featurization, head, loss,
metrics and served methods are chosen.

Importing this (and the registry) is cheap: no numpy, no TensorFlow. Each hook imports what it
needs when it is called, so the CLI and the operator can ask "does this task build an index?"
without loading a model library.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Optional, Sequence

from ..api.spec import Architecture, Task
from ..text.formats import RecordKind

if TYPE_CHECKING:
    from ..models.config import ModelConfig
    from ..text.features import Features, Featurizer
    from ..text.formats import Record

# The gRPC methods a server can answer, in the order ModelInfo lists them.
RETRIEVE = "Retrieve"
RESPOND = "Respond"
RERANK = "Rerank"
SCORE_SESSION = "ScoreSession"
MODEL_INFO = "ModelInfo"
METHOD_ORDER = (RETRIEVE, RESPOND, RERANK, SCORE_SESSION, MODEL_INFO)


@dataclass(frozen=True)
class EvaluationInputs:
    """What `TaskDefinition.evaluate` gets from the training pipeline (rank 0, after training)."""

    training_task: Any  # training.tasks.TrainingTask (its .model is the trained task model)
    featurizer: "Featurizer"
    architecture: Architecture
    prepared: Any  # training.data_prep.PreparedData: train(), candidates(), labels (set when proxies)
    held: Sequence["Record"]  # prepared.eval(), read once: dev, what gates and choices read
    seed: int
    start_model: Callable[[], Optional[Any]]  # the untrained start (spec.model.init), None without one
    test: Optional[Sequence["Record"]] = None  # a corpus's fixed test split: reported, never chosen on
    cache_dir: Optional[Any] = None  # a Path for embeddings of unchanged models (training/embedding_cache.py)
    export_dir: Optional[Any] = None  # the version's exported bundle: retrieval is scored as served
    spec: Any = None  # the DialogModelSpec (serving's runtime and precision)
    version: str = ""


class TaskDefinition:
    """One task. Subclasses set the facts and override the hooks; one instance each is registered."""

    task: Task
    architectures: tuple[Architecture, ...] = (Architecture.bert, Architecture.qa_lstm)
    record_kind: Optional[RecordKind] = None  # the JSONL records it trains on; None: any kind
    builds_index: bool = False  # a build-index stage follows training (retrieval)
    candidate_pool: bool = False  # evaluation ranks a candidate pool holding every held-out response
    served: bool = True
    input_kinds: tuple[str, ...] = ()  # the bundle's served inputs: context, response, pair, session
    methods: tuple[str, ...] = ()  # the gRPC methods its own model answers (Rerank via a reranker aside)

    @property
    def scores_pairs(self) -> bool:
        """Its own model answers Rerank (a reranking model; retrieval needs a reranker for that)."""
        return RERANK in self.methods

    # --- inputs --------------------------------------------------------------------------------

    def input_lengths(self, config: "ModelConfig") -> dict[str, int]:
        """The model's input arrays (name → packed length); `segment_ids` are zeros, the rest ids."""
        raise NotImplementedError

    def training_only_lengths(self, config: "ModelConfig") -> dict[str, int]:
        """Arrays `features` adds for the loss alone, never model inputs (name → packed length)."""
        return {}

    def features(self, featurizer: "Featurizer", architecture: Architecture, records: Sequence["Record"]) -> "Features":
        """Records → the named arrays the model trains on (plus `label` where the task has one)."""
        raise NotImplementedError

    def preset(self, spec: Any, resolve_dialog_model: Optional[Callable[[str], Any]]) -> Any:
        """The spec's data.preset shaped for this task (a rejoinder.datasets.presets.PresetData)."""
        raise NotImplementedError

    # --- model ---------------------------------------------------------------------------------

    def check(self, architecture: Architecture) -> None:
        if architecture not in self.architectures:
            names = " or ".join(a.value for a in self.architectures)
            raise ValueError(f"{self.task} needs architecture {names}, got {architecture}")

    def head(self, config: "ModelConfig") -> Any:
        """The Keras task model (rejoinder.models.heads), variables not yet created."""
        raise NotImplementedError

    def embedding_dim(self, config: "ModelConfig") -> Optional[int]:
        """Size of the embeddings it serves; None for tasks that do not embed."""
        return None

    # --- training ------------------------------------------------------------------------------

    def training_task(self, model: Any, seed: int, tokenizer: Any, seq_length: int, pool: Any = None,
                      loss: Any = None) -> Any:
        """The loss and per-batch work (a training.tasks.TrainingTask) the loop drives; `pool`
        (retrieval's training.poolNegatives) is a training.pool_negatives.ReplyBank and `loss`
        retrieval's training.contrastiveLoss (None: its defaults)."""
        raise NotImplementedError

    def evaluate(self, inputs: EvaluationInputs) -> dict[str, Any]:
        """Held-out metrics (the report `metrics.json` holds)."""
        raise NotImplementedError


class BinaryTaskDefinition(TaskDefinition):
    """A 0/1 label per example (reranking's upvote, session scoring's good session): one logit,
    sigmoid cross-entropy, accuracy and ROC AUC."""

    def training_task(self, model: Any, seed: int, tokenizer: Any, seq_length: int, pool: Any = None,
                      loss: Any = None) -> Any:
        from ..training.tasks import BinaryTask

        return BinaryTask(model, seed, self.task)

    def evaluate(self, inputs: EvaluationInputs) -> dict[str, Any]:
        from ..training import evaluation

        from ..datasets.user_reactions import by_origin

        model = inputs.training_task.model
        report = evaluation.evaluate_binary(model, self.features(inputs.featurizer, inputs.architecture, inputs.held))
        if inputs.test:  # a fixed test split: reported beside dev, never chosen on
            report["test"] = evaluation.evaluate_binary(model, self.features(inputs.featurizer, inputs.architecture, inputs.test))
        if inputs.prepared.labels is not None:  # proxy labels: the metrics say so wherever they go
            report["labels"] = inputs.prepared.labels
        groups = by_origin(inputs.held)  # users' reactions mixed with proxy ones: each scored alone too
        if groups:
            report["metricsByOrigin"] = {
                origin: evaluation.evaluate_binary(model, self.features(inputs.featurizer, inputs.architecture, records))["metrics"]
                for origin, records in groups.items()}
        return report
