"""The rejoinder.serving.v1.DialogService gRPC handlers (grpc.aio).

Requests arrive as raw bytes and are parsed here, so a malformed request — most often text
that is not UTF-8, which protobuf refuses to parse into a `string` field — is answered
INVALID_ARGUMENT with a message instead of gRPC's generic INTERNAL deserialisation error.
Every outcome is counted in `rejoinder_requests_total{method, code}`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Optional

import grpc
from google.protobuf.message import DecodeError

from rejoinder.feedback.records import ServedBy
from rejoinder.tasks import respond_blend

from . import validation
from .answers import Answer, new_response_id
from .batchifier import Batchifier, BatchFailed, Closed, DeadlineExceeded, QueueFull
from .config import BatchingConfig
from .feedback import FeedbackDesk, UnknownAnswer
from .metrics import ServerMetrics
from .protos import dialog_service_pb2 as pb
from .reaction_log import LogFull, LogUnavailable
from .runtime import MODEL_INFO, RERANK, RESPOND, RETRIEVE, SCORE_SESSION, Hit, ServingRuntime

log = logging.getLogger(__name__)

FEEDBACK = "Feedback"  # served by every server that has a reaction log, whatever its task
SERVICE_NAME = pb.DESCRIPTOR.services_by_name["DialogService"].full_name  # rejoinder.serving.v1.DialogService


class NotServed(Exception):
    """This server's model cannot answer the method (UNIMPLEMENTED)."""


class NotReady(Exception):
    """Still loading or warming up, or draining (UNAVAILABLE)."""


_CODES: list[tuple[type[BaseException], grpc.StatusCode]] = [
    (validation.InvalidRequest, grpc.StatusCode.INVALID_ARGUMENT),
    (UnknownAnswer, grpc.StatusCode.NOT_FOUND),
    (QueueFull, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (LogFull, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (LogUnavailable, grpc.StatusCode.UNAVAILABLE),
    (Closed, grpc.StatusCode.UNAVAILABLE),
    (NotReady, grpc.StatusCode.UNAVAILABLE),
    (DeadlineExceeded, grpc.StatusCode.DEADLINE_EXCEEDED),
    (NotServed, grpc.StatusCode.UNIMPLEMENTED),
    (BatchFailed, grpc.StatusCode.INTERNAL),
]


@dataclass(frozen=True)
class ServedIdentity:
    """What ModelInfo and the model-info metric report."""

    name: str = ""
    namespace: str = ""
    task: str = ""
    architecture: str = ""
    model_version: str = ""
    index_version: str = ""
    reranker_version: str = ""
    precision: str = "float32"
    xla: bool = False
    runtime: str = "tensorflow"  # tensorflow | onnxruntime
    precision_reason: str = ""  # why this precision (e.g. why not int8)

    def served_by(self, reranked: bool, instance: str) -> ServedBy:
        return ServedBy(self.model_version, self.index_version, self.reranker_version if reranked else "", instance)


class DialogService:
    def __init__(
        self,
        runtime: ServingRuntime,
        identity: ServedIdentity,
        limits: validation.Limits,
        batching: BatchingConfig,
        metrics: ServerMetrics,
        instance: str = "",
        feedback_desk: Optional[FeedbackDesk] = None,
    ) -> None:
        self.runtime = runtime
        self.instance = instance
        # Without one (a bare `serve --bundle`), answers carry no ids and Feedback is UNIMPLEMENTED.
        self.feedback_desk = feedback_desk
        self.identity = identity
        self.limits = limits
        self.batching = batching
        self.metrics = metrics
        self.ready = False

        def batcher(name: str, fn: Callable, method: str) -> Batchifier:
            return Batchifier(
                name, fn, max_batch_size=batching.max_batch_size, max_delay_s=batching.max_delay_s,
                capacity=batching.capacity, observer=metrics,
                sequence_buckets=runtime.sequence_buckets(method), max_batch_tokens=batching.max_batch_tokens,
            )

        methods = runtime.methods
        self._retrieve = batcher("retrieve", runtime.retrieve_batch, RETRIEVE) if RETRIEVE in methods else None
        self._rerank = batcher("rerank", runtime.rerank_batch, RERANK) if RERANK in methods else None
        self._sessions = (
            batcher("score-session", runtime.score_sessions_batch, SCORE_SESSION) if SCORE_SESSION in methods else None
        )
        # Respond's blend of reranker and retrieval scores, chosen on dev by the reranker's evaluation
        scorer = getattr(runtime, "pair_scorer", None)  # (stand-in runtimes of the feedback tests have none)
        manifest = getattr(scorer, "manifest", None) or {}
        self._blend_weight = float((manifest.get("respond") or {}).get("blendWeight", respond_blend.DEFAULT_WEIGHT))

    # --- registration -----------------------------------------------------------------------

    def handler(self) -> grpc.GenericRpcHandler:
        rpcs: dict[str, tuple[Any, Callable[[Any, Any], Awaitable[Any]]]] = {
            RETRIEVE: (pb.RetrieveRequest, self.retrieve),
            RERANK: (pb.RerankRequest, self.rerank),
            SCORE_SESSION: (pb.ScoreSessionRequest, self.score_session),
            RESPOND: (pb.RespondRequest, self.respond),
            MODEL_INFO: (pb.ModelInfoRequest, self.model_info),
            FEEDBACK: (pb.FeedbackRequest, self.feedback),
        }
        return grpc.method_handlers_generic_handler(
            SERVICE_NAME,
            {
                name: grpc.unary_unary_rpc_method_handler(
                    self._wrap(name, request_type, fn),
                    request_deserializer=None,  # raw bytes: parsed in _wrap
                    response_serializer=lambda message: message.SerializeToString(),
                )
                for name, (request_type, fn) in rpcs.items()
            },
        )

    def _wrap(self, method: str, request_type: Any, fn: Callable[[Any, Any], Awaitable[Any]]):
        full_name = request_type.DESCRIPTOR.full_name

        async def handle(raw: bytes, context: grpc.aio.ServicerContext) -> Any:
            started = time.perf_counter()
            code = grpc.StatusCode.OK
            in_flight = self.metrics.in_flight.labels(method)
            in_flight.inc()
            counted = False

            def count() -> None:
                nonlocal counted
                counted = True
                in_flight.dec()
                self.metrics.requests.labels(method, code.name).inc()
                self.metrics.latency.labels(method).observe(time.perf_counter() - started)

            try:
                try:
                    request = request_type.FromString(raw)
                except DecodeError as error:
                    raise validation.InvalidRequest(
                        f"malformed {full_name} (every text must be valid UTF-8): {error}"
                    ) from None
                if method != MODEL_INFO and not self.ready:
                    raise NotReady("the model is not serving (loading, warming up or shutting down); retry")
                return await fn(request, context)
            except asyncio.CancelledError:
                code = grpc.StatusCode.CANCELLED
                raise
            except Exception as error:
                code = next((c for kind, c in _CODES if isinstance(error, kind)), grpc.StatusCode.INTERNAL)
                if code is grpc.StatusCode.INTERNAL:
                    log.exception("%s failed", method)
                # abort() sends the status before it raises: count first, so a client that has seen
                # the error finds it on /metrics (an OK answer is sent only after `finally` ran)
                count()
                await context.abort(code, str(error) or type(error).__name__)
            finally:
                if not counted:
                    count()

        return handle

    # --- methods ----------------------------------------------------------------------------

    @property
    def _reranks_answers(self) -> bool:
        """Respond's answers are reranked: a retrieval model served with a reranker."""
        return self._rerank is not None and self._retrieve is not None

    @property
    def methods(self) -> list[str]:
        """What ModelInfo lists: the model's methods, and Feedback where reactions are logged."""
        return self.runtime.methods + ([FEEDBACK] if self.feedback_desk is not None else [])

    def _require(self, batcher: Optional[Batchifier], method: str, why: str) -> Batchifier:
        if batcher is None:
            raise NotServed(
                f"{method} is not served here: this server runs a {self.identity.task} model "
                f"{self.identity.model_version}; {why}. Served: {', '.join(self.methods)}"
            )
        return batcher

    @staticmethod
    def _timeout(context: grpc.aio.ServicerContext) -> Optional[float]:
        return context.time_remaining()

    async def _submit(self, batcher: Batchifier, method: str, payload: Any, context: Any, *items: Any) -> Any:
        """Queue one request with its rows' token lengths (what grouping and the budget use)."""
        lengths = self.runtime.lengths(method, *items)
        return await batcher.submit(
            payload, rows=len(lengths), timeout_s=self._timeout(context),
            length=int(lengths.max(initial=0)), tokens=int(lengths.sum()),
        )

    def _candidate(
        self, hit: Hit, rank: int, turns: tuple[str, ...], served_by: ServedBy, score: Optional[float] = None,
    ) -> pb.Candidate:
        """One answer; with a reaction log it gets a response id and is remembered for Feedback."""
        index = self.runtime.index
        assert index is not None
        candidate_id, text = index.ids[hit.row], index.texts[hit.row]
        response_id = ""
        if self.feedback_desk is not None:
            response_id = new_response_id(self.instance)
            self.feedback_desk.answers.remember(response_id, Answer(turns, text, candidate_id, served_by))
        return pb.Candidate(
            id=candidate_id, text=text, score=hit.score if score is None else score,
            retrieval_score=hit.score, rank=rank, response_id=response_id,
        )

    async def _retrieve_hits(self, request: Any, context: Any, method: str) -> tuple[list[str], list[Hit]]:
        batcher = self._require(self._retrieve, method, "it needs a retrieval model and its index")
        turns = validation.context_turns(list(request.context), self.limits)
        k = validation.top_k(request.top_k, self.limits)
        return turns, await self._submit(batcher, RETRIEVE, (turns, k), context, [turns])

    async def retrieve(self, request: pb.RetrieveRequest, context: Any) -> pb.RetrieveResponse:
        turns, hits = await self._retrieve_hits(request, context, RETRIEVE)
        served_by, kept = self.identity.served_by(False, self.instance), tuple(turns)
        return pb.RetrieveResponse(
            candidates=[self._candidate(h, i + 1, kept, served_by) for i, h in enumerate(hits)],
            model_version=self.identity.model_version,
            index_version=self.identity.index_version,
        )

    async def rerank(self, request: pb.RerankRequest, context: Any) -> pb.RerankResponse:
        batcher = self._require(self._rerank, RERANK, "it needs a reranking model (or a configured reranker)")
        turns = validation.context_turns(list(request.context), self.limits)
        responses = validation.responses(list(request.responses), self.limits)
        scores = await self._submit(batcher, RERANK, (turns, responses), context, [turns] * len(responses), responses)
        version = self.identity.model_version if self.runtime.pair_scorer is self.runtime.bundle else self.identity.reranker_version
        return pb.RerankResponse(scores=[float(s) for s in scores], model_version=version)

    async def score_session(self, request: pb.ScoreSessionRequest, context: Any) -> pb.ScoreSessionResponse:
        batcher = self._require(self._sessions, SCORE_SESSION, "it needs a session-scoring model")
        turns = validation.session_turns(list(request.turns), self.limits)
        score = await self._submit(batcher, SCORE_SESSION, turns, context, [turns])
        return pb.ScoreSessionResponse(score=score, model_version=self.identity.model_version)

    async def respond(self, request: pb.RespondRequest, context: Any) -> pb.RespondResponse:
        """The seed's whole pipeline: retrieve top-k, rerank them when a reranker is configured."""
        turns, hits = await self._retrieve_hits(request, context, RESPOND)
        if not hits:
            raise validation.InvalidRequest("the index returned no candidates")
        reranked = self._rerank is not None
        served_by, kept = self.identity.served_by(reranked, self.instance), tuple(turns)
        if reranked:
            texts = [self.runtime.index.texts[h.row] for h in hits]  # type: ignore[union-attr]
            scores = await self._submit(self._rerank, RERANK, (turns, texts), context, [turns] * len(texts), texts)
            order = respond_blend.order([float(s) for s in scores], [h.score for h in hits], self._blend_weight)
            candidates = [self._candidate(hits[i], rank + 1, kept, served_by, float(scores[i]))
                          for rank, i in enumerate(order)]
        else:
            candidates = [self._candidate(h, i + 1, kept, served_by) for i, h in enumerate(hits)]
        return pb.RespondResponse(
            best=candidates[0], candidates=candidates, reranked=reranked,
            model_version=self.identity.model_version, index_version=self.identity.index_version,
            reranker_version=self.identity.reranker_version if reranked else "",
            response_id=candidates[0].response_id,
        )

    async def feedback(self, request: pb.FeedbackRequest, context: Any) -> pb.FeedbackResponse:
        desk = self.feedback_desk
        if desk is None:
            raise NotServed(
                "Feedback is not served here: this server has no reaction log "
                "(start it with -f DIALOGMODEL.yaml or --reactions-dir)"
            )
        current = self.identity.served_by(self._reranks_answers, self.instance)
        outcome = await desk.record(desk.record_for(request, self.limits, current))
        served = outcome.record.served_by
        return pb.FeedbackResponse(
            duplicate=outcome.duplicate, model_version=served.model_version,
            index_version=served.index_version, reranker_version=served.reranker_version,
        )

    async def model_info(self, request: pb.ModelInfoRequest, context: Any) -> pb.ModelInfoResponse:
        ident, index = self.identity, self.runtime.index
        return pb.ModelInfoResponse(
            name=ident.name, namespace=ident.namespace, task=ident.task, architecture=ident.architecture,
            model_version=ident.model_version, index_version=ident.index_version,
            index_kind=index.params.kind if index else "", index_size=index.size if index else 0,
            index_recall_at_20=float(index.manifest.get("recallAt20") or 0.0) if index else 0.0,
            reranker_version=ident.reranker_version, methods=self.methods,
            default_top_k=validation.top_k(0, self.limits), max_top_k=self.limits.max_top_k,
            max_context_turns=self.limits.max_context_turns, max_candidates=self.limits.max_candidates,
            max_batch_size=self.batching.max_batch_size, batch_shapes=list(self.runtime.shapes),
            precision=ident.precision, xla=ident.xla, instance=self.instance,
            runtime=ident.runtime, precision_reason=ident.precision_reason,
            served_version=ident.served_by(self._reranks_answers, "").version,
        )

    # --- lifecycle --------------------------------------------------------------------------

    async def close(self) -> None:
        """Finish every accepted request, then stop the batchifiers' worker threads."""
        self.ready = False
        for batcher in (self._retrieve, self._rerank, self._sessions):
            if batcher is not None:
                await batcher.close()
        if self.feedback_desk is not None:  # after the gRPC server stopped: every accepted Feedback is in
            await asyncio.to_thread(self.feedback_desk.log.close)
