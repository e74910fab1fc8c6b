from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Reaction(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REACTION_UNSPECIFIED: _ClassVar[Reaction]
    UPVOTE: _ClassVar[Reaction]
    DOWNVOTE: _ClassVar[Reaction]
REACTION_UNSPECIFIED: Reaction
UPVOTE: Reaction
DOWNVOTE: Reaction

class RetrieveRequest(_message.Message):
    __slots__ = ("context", "top_k")
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    TOP_K_FIELD_NUMBER: _ClassVar[int]
    context: _containers.RepeatedScalarFieldContainer[str]
    top_k: int
    def __init__(self, context: _Optional[_Iterable[str]] = ..., top_k: _Optional[int] = ...) -> None: ...

class Candidate(_message.Message):
    __slots__ = ("id", "text", "score", "retrieval_score", "rank", "response_id")
    ID_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    RETRIEVAL_SCORE_FIELD_NUMBER: _ClassVar[int]
    RANK_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    text: str
    score: float
    retrieval_score: float
    rank: int
    response_id: str
    def __init__(self, id: _Optional[str] = ..., text: _Optional[str] = ..., score: _Optional[float] = ..., retrieval_score: _Optional[float] = ..., rank: _Optional[int] = ..., response_id: _Optional[str] = ...) -> None: ...

class RetrieveResponse(_message.Message):
    __slots__ = ("candidates", "model_version", "index_version")
    CANDIDATES_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    INDEX_VERSION_FIELD_NUMBER: _ClassVar[int]
    candidates: _containers.RepeatedCompositeFieldContainer[Candidate]
    model_version: str
    index_version: str
    def __init__(self, candidates: _Optional[_Iterable[_Union[Candidate, _Mapping]]] = ..., model_version: _Optional[str] = ..., index_version: _Optional[str] = ...) -> None: ...

class RerankRequest(_message.Message):
    __slots__ = ("context", "responses")
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    RESPONSES_FIELD_NUMBER: _ClassVar[int]
    context: _containers.RepeatedScalarFieldContainer[str]
    responses: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, context: _Optional[_Iterable[str]] = ..., responses: _Optional[_Iterable[str]] = ...) -> None: ...

class RerankResponse(_message.Message):
    __slots__ = ("scores", "model_version")
    SCORES_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    scores: _containers.RepeatedScalarFieldContainer[float]
    model_version: str
    def __init__(self, scores: _Optional[_Iterable[float]] = ..., model_version: _Optional[str] = ...) -> None: ...

class ScoreSessionRequest(_message.Message):
    __slots__ = ("turns",)
    TURNS_FIELD_NUMBER: _ClassVar[int]
    turns: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, turns: _Optional[_Iterable[str]] = ...) -> None: ...

class ScoreSessionResponse(_message.Message):
    __slots__ = ("score", "model_version")
    SCORE_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    score: float
    model_version: str
    def __init__(self, score: _Optional[float] = ..., model_version: _Optional[str] = ...) -> None: ...

class RespondRequest(_message.Message):
    __slots__ = ("context", "top_k")
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    TOP_K_FIELD_NUMBER: _ClassVar[int]
    context: _containers.RepeatedScalarFieldContainer[str]
    top_k: int
    def __init__(self, context: _Optional[_Iterable[str]] = ..., top_k: _Optional[int] = ...) -> None: ...

class RespondResponse(_message.Message):
    __slots__ = ("best", "candidates", "reranked", "model_version", "index_version", "reranker_version", "response_id")
    BEST_FIELD_NUMBER: _ClassVar[int]
    CANDIDATES_FIELD_NUMBER: _ClassVar[int]
    RERANKED_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    INDEX_VERSION_FIELD_NUMBER: _ClassVar[int]
    RERANKER_VERSION_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_ID_FIELD_NUMBER: _ClassVar[int]
    best: Candidate
    candidates: _containers.RepeatedCompositeFieldContainer[Candidate]
    reranked: bool
    model_version: str
    index_version: str
    reranker_version: str
    response_id: str
    def __init__(self, best: _Optional[_Union[Candidate, _Mapping]] = ..., candidates: _Optional[_Iterable[_Union[Candidate, _Mapping]]] = ..., reranked: _Optional[bool] = ..., model_version: _Optional[str] = ..., index_version: _Optional[str] = ..., reranker_version: _Optional[str] = ..., response_id: _Optional[str] = ...) -> None: ...

class FeedbackRequest(_message.Message):
    __slots__ = ("response_id", "context", "response", "reaction", "session_id")
    RESPONSE_ID_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_FIELD_NUMBER: _ClassVar[int]
    REACTION_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    response_id: str
    context: _containers.RepeatedScalarFieldContainer[str]
    response: str
    reaction: Reaction
    session_id: str
    def __init__(self, response_id: _Optional[str] = ..., context: _Optional[_Iterable[str]] = ..., response: _Optional[str] = ..., reaction: _Optional[_Union[Reaction, str]] = ..., session_id: _Optional[str] = ...) -> None: ...

class FeedbackResponse(_message.Message):
    __slots__ = ("duplicate", "model_version", "index_version", "reranker_version")
    DUPLICATE_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    INDEX_VERSION_FIELD_NUMBER: _ClassVar[int]
    RERANKER_VERSION_FIELD_NUMBER: _ClassVar[int]
    duplicate: bool
    model_version: str
    index_version: str
    reranker_version: str
    def __init__(self, duplicate: _Optional[bool] = ..., model_version: _Optional[str] = ..., index_version: _Optional[str] = ..., reranker_version: _Optional[str] = ...) -> None: ...

class ModelInfoRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ModelInfoResponse(_message.Message):
    __slots__ = ("name", "namespace", "task", "architecture", "model_version", "index_version", "index_kind", "index_size", "index_recall_at_20", "reranker_version", "methods", "default_top_k", "max_top_k", "max_context_turns", "max_candidates", "max_batch_size", "batch_shapes", "precision", "xla", "instance", "served_version", "runtime", "precision_reason")
    NAME_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    TASK_FIELD_NUMBER: _ClassVar[int]
    ARCHITECTURE_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    INDEX_VERSION_FIELD_NUMBER: _ClassVar[int]
    INDEX_KIND_FIELD_NUMBER: _ClassVar[int]
    INDEX_SIZE_FIELD_NUMBER: _ClassVar[int]
    INDEX_RECALL_AT_20_FIELD_NUMBER: _ClassVar[int]
    RERANKER_VERSION_FIELD_NUMBER: _ClassVar[int]
    METHODS_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_TOP_K_FIELD_NUMBER: _ClassVar[int]
    MAX_TOP_K_FIELD_NUMBER: _ClassVar[int]
    MAX_CONTEXT_TURNS_FIELD_NUMBER: _ClassVar[int]
    MAX_CANDIDATES_FIELD_NUMBER: _ClassVar[int]
    MAX_BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    BATCH_SHAPES_FIELD_NUMBER: _ClassVar[int]
    PRECISION_FIELD_NUMBER: _ClassVar[int]
    XLA_FIELD_NUMBER: _ClassVar[int]
    INSTANCE_FIELD_NUMBER: _ClassVar[int]
    SERVED_VERSION_FIELD_NUMBER: _ClassVar[int]
    RUNTIME_FIELD_NUMBER: _ClassVar[int]
    PRECISION_REASON_FIELD_NUMBER: _ClassVar[int]
    name: str
    namespace: str
    task: str
    architecture: str
    model_version: str
    index_version: str
    index_kind: str
    index_size: int
    index_recall_at_20: float
    reranker_version: str
    methods: _containers.RepeatedScalarFieldContainer[str]
    default_top_k: int
    max_top_k: int
    max_context_turns: int
    max_candidates: int
    max_batch_size: int
    batch_shapes: _containers.RepeatedScalarFieldContainer[int]
    precision: str
    xla: bool
    instance: str
    served_version: str
    runtime: str
    precision_reason: str
    def __init__(self, name: _Optional[str] = ..., namespace: _Optional[str] = ..., task: _Optional[str] = ..., architecture: _Optional[str] = ..., model_version: _Optional[str] = ..., index_version: _Optional[str] = ..., index_kind: _Optional[str] = ..., index_size: _Optional[int] = ..., index_recall_at_20: _Optional[float] = ..., reranker_version: _Optional[str] = ..., methods: _Optional[_Iterable[str]] = ..., default_top_k: _Optional[int] = ..., max_top_k: _Optional[int] = ..., max_context_turns: _Optional[int] = ..., max_candidates: _Optional[int] = ..., max_batch_size: _Optional[int] = ..., batch_shapes: _Optional[_Iterable[int]] = ..., precision: _Optional[str] = ..., xla: _Optional[bool] = ..., instance: _Optional[str] = ..., served_version: _Optional[str] = ..., runtime: _Optional[str] = ..., precision_reason: _Optional[str] = ...) -> None: ...
