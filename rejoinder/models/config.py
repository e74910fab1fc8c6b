"""Everything needed to rebuild a model: architecture sizes, task, vocab and sequence lengths.

`ModelConfig` is what an exported bundle stores (`model/config.json`); `build.build_model`
turns it back into Keras layers. It is derived from the DialogModel spec and the tokenizer by
`model_config_from_spec`, the only place spec fields become model sizes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Optional

from ..api.spec import Architecture, Task
from ..text.features import SequenceConfig
from ..tasks import TaskDefinition, task_module
from ..text.tokenizer import SpecialIds, Tokenizer


@dataclass(frozen=True)
class BertConfig:
    vocab_size: int
    hidden: int = 256
    layers: int = 4
    heads: int = 4
    intermediate: int = 1024
    max_position: int = 80  # position embeddings kept (pretrained ones are sliced to this)
    type_vocab_size: int = 2
    dropout: float = 0.1
    pooling: str = "mean"  # "cls" (BERT's tanh pooler over [CLS]) or "mean" (masked mean)
    pad_id: int = 0

    def __post_init__(self) -> None:
        if self.hidden % self.heads:
            raise ValueError(f"hidden ({self.hidden}) must be divisible by heads ({self.heads})")
        if self.pooling not in ("cls", "mean"):
            raise ValueError(f"pooling must be cls or mean, got {self.pooling!r}")


@dataclass(frozen=True)
class QALstmConfig:
    vocab_size: int
    embedding_dim: int = 128
    hidden_units: int = 128
    mlp_units: int = 256
    dropout: float = 0.1
    pad_id: int = 0


@dataclass(frozen=True)
class ModelConfig:
    task: Task
    architecture: Architecture
    vocab_size: int
    special: SpecialIds
    sequence: SequenceConfig = field(default_factory=SequenceConfig)
    bert: Optional[BertConfig] = None
    qa_lstm: Optional[QALstmConfig] = None
    projection_dim: Optional[int] = None  # dual encoder output size (BERT); None keeps hidden
    shared_encoder: bool = True  # dual encoder: one tower for contexts and responses

    def __post_init__(self) -> None:
        # config.json holds the wire strings: they become the enums here (frozen, hence setattr)
        object.__setattr__(self, "task", self.definition.task)
        try:
            object.__setattr__(self, "architecture", Architecture(self.architecture))
        except ValueError:
            raise ValueError(f"unknown architecture {self.architecture!r}; expected one of "
                             f"{[a.value for a in Architecture]}") from None
        if self.architecture == Architecture.bert and self.bert is None:
            raise ValueError("architecture bert needs a bert config")
        if self.architecture == Architecture.qa_lstm and self.qa_lstm is None:
            raise ValueError("architecture qa-lstm needs a qa_lstm config")
        self.definition.check(self.architecture)

    @property
    def definition(self) -> TaskDefinition:
        return task_module(self.task)

    @property
    def embedding_dim(self) -> Optional[int]:
        """Size of a retrieval embedding; None for tasks that do not embed."""
        return self.definition.embedding_dim(self)

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "task": self.task.value, "architecture": self.architecture.value}

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> "ModelConfig":
        obj = dict(obj)
        obj["special"] = SpecialIds(**obj["special"])
        obj["sequence"] = SequenceConfig(**obj["sequence"])
        obj["bert"] = BertConfig(**obj["bert"]) if obj.get("bert") else None
        obj["qa_lstm"] = QALstmConfig(**obj["qa_lstm"]) if obj.get("qa_lstm") else None
        return cls(**obj)


def model_config_from_spec(spec: Any, tokenizer: Tokenizer) -> ModelConfig:
    """A `DialogModelSpec` plus its tokenizer → the config of the model to build."""
    task = spec.task
    architecture = spec.model.architecture
    sequence = SequenceConfig.from_spec(spec)
    b, q = spec.model.bert, spec.model.qa_lstm
    # The cross-encoder packs context + response into one sequence; everything else uses maxSeqLength.
    longest = max(sequence.max_seq_length, sequence.context_length + sequence.response_length)
    bert = None
    qa = None
    if architecture == Architecture.bert:
        bert = BertConfig(
            vocab_size=tokenizer.vocab_size,
            hidden=b.hidden,
            layers=b.layers,
            heads=b.heads,
            intermediate=b.intermediate,
            max_position=longest,
            dropout=b.dropout,
            pooling=b.pooling.value,
            pad_id=tokenizer.special.pad,
        )
    else:
        qa = QALstmConfig(
            vocab_size=tokenizer.vocab_size,
            embedding_dim=q.embedding_dim,
            hidden_units=q.hidden_units,
            mlp_units=q.mlp_units,
            dropout=q.dropout,
            pad_id=tokenizer.special.pad,
        )
    return ModelConfig(
        task=task,
        architecture=architecture,
        vocab_size=tokenizer.vocab_size,
        special=tokenizer.special,
        sequence=sequence,
        bert=bert,
        qa_lstm=qa,
        projection_dim=b.projection_dim if architecture == Architecture.bert else None,
        shared_encoder=b.shared_encoder,
    )
