"""The model server process: gRPC (DialogService, health, reflection) + Prometheus, and its lifecycle.

    start gRPC and /metrics at once ── health NOT_SERVING (readiness fails, no traffic)
    load bundle(s) and index, warm up every (batch size, sequence bucket) (in a thread; health keeps answering)
    health SERVING ── serve
    SIGTERM/SIGINT ── health NOT_SERVING, keep answering for `drain_delay_s` (endpoints
    controllers and load balancers notice), then refuse new RPCs, finish every accepted one
    (up to `grace_s`), stop the batchifiers, exit 0.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
from dataclasses import dataclass, field
from typing import Callable, Optional

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from rejoinder.constants import GRPC_PORT, LOCAL_HOST, METRICS_PORT

from . import validation
from .answers import DEFAULT_CAPACITY, DEFAULT_TTL_S, AnswerMemory
from .config import BatchingConfig
from .feedback import FeedbackDesk
from .metrics import ServerMetrics
from .reaction_log import ReactionLog, ReactionLogConfig
from .runtime import ServingRuntime
from .service import SERVICE_NAME, DialogService, ServedIdentity

log = logging.getLogger(__name__)

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
HEALTH_SERVICES = ("", SERVICE_NAME)  # "" = the whole server (what Kubernetes' grpc probe asks)


@dataclass
class ServerSettings:
    host: str = LOCAL_HOST
    port: int = GRPC_PORT
    metrics_port: Optional[int] = METRICS_PORT  # None: no metrics endpoint
    metrics_host: Optional[str] = None  # defaults to host
    batching: BatchingConfig = field(default_factory=BatchingConfig)
    limits: validation.Limits = field(default_factory=validation.Limits)
    drain_delay_s: float = 0.0
    grace_s: float = 30.0
    max_message_bytes: int = 4 * 1024 * 1024  # what bounds a request (beyond: RESOURCE_EXHAUSTED)
    # Feedback: the reaction log (None: Feedback UNIMPLEMENTED, no response ids) and the answers remembered.
    reactions: Optional[ReactionLogConfig] = None
    answer_capacity: int = DEFAULT_CAPACITY
    answer_ttl_s: float = DEFAULT_TTL_S
    # Names this process in ModelInfo (`rejoinder up` checks that its own server is the one answering).
    instance: str = field(default_factory=lambda: f"{socket.gethostname()}/{os.getpid()}")


class _Delegate(grpc.GenericRpcHandler):
    """Answers DialogService RPCs once the model is loaded; UNAVAILABLE before that."""

    def __init__(self) -> None:
        self.target: Optional[grpc.GenericRpcHandler] = None

    def service(self, handler_call_details):  # noqa: D401 - grpc API
        if not handler_call_details.method.startswith(f"/{SERVICE_NAME}/"):
            return None
        if self.target is None:
            return grpc.unary_unary_rpc_method_handler(_loading, request_deserializer=None)
        return self.target.service(handler_call_details)


async def _loading(request: bytes, context: grpc.aio.ServicerContext) -> None:
    await context.abort(grpc.StatusCode.UNAVAILABLE, "the model is still loading; retry when health is SERVING")


class ModelServer:
    """One server: call `run(load)` where `load()` (blocking) returns (runtime, identity)."""

    def __init__(self, settings: ServerSettings, metrics: Optional[ServerMetrics] = None) -> None:
        self.settings = settings
        self.metrics = metrics or ServerMetrics()
        self.health = health.aio.HealthServicer()
        self.service: Optional[DialogService] = None
        self.port: Optional[int] = None
        self.metrics_port: Optional[int] = None
        self._delegate = _Delegate()
        self._stop = asyncio.Event()
        self._server: Optional[grpc.aio.Server] = None

    async def _set_health(self, status) -> None:
        for name in HEALTH_SERVICES:
            await self.health.set(name, status)

    async def start(self) -> None:
        s = self.settings
        if s.metrics_port is not None:
            http_server, _ = self.metrics.serve_http(s.metrics_port, s.metrics_host or s.host)
            self.metrics_port = http_server.server_port
            log.info("metrics on http://%s:%d/metrics", s.metrics_host or s.host, self.metrics_port)
        self._server = grpc.aio.server(
            options=[
                ("grpc.max_receive_message_length", s.max_message_bytes),
                ("grpc.max_send_message_length", s.max_message_bytes),
                # gRPC shares a port with SO_REUSEPORT by default: a second server on a port in use
                # must fail to start, not split the traffic with whatever listens there already.
                ("grpc.so_reuseport", 0),
            ]
        )
        self._server.add_generic_rpc_handlers((self._delegate,))
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self._server)
        reflection.enable_server_reflection((SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME), self._server)
        await self._set_health(NOT_SERVING)
        self.port = self._server.add_insecure_port(f"{s.host}:{s.port}")
        if not self.port:
            raise OSError(f"cannot listen on {s.host}:{s.port}")
        await self._server.start()
        log.info("gRPC on %s:%d (health NOT_SERVING until the model is loaded and warmed up)", s.host, self.port)

    async def load(self, load: Callable[[], tuple[ServingRuntime, ServedIdentity]]) -> None:
        """Load and warm up in a worker thread (the event loop keeps answering health checks)."""

        def load_and_warm() -> tuple[ServingRuntime, ServedIdentity, float]:
            runtime, identity = load()
            return runtime, identity, runtime.warm_up()

        runtime, identity, warm_s = await asyncio.to_thread(load_and_warm)
        self.service = DialogService(runtime, identity, self.settings.limits, self.settings.batching, self.metrics,
                                     instance=self.settings.instance, feedback_desk=self._feedback_desk())
        self._delegate.target = self.service.handler()
        self.metrics.set_model_info(identity.__dict__)
        self.metrics.warmup_seconds.set(warm_s)
        self.metrics.compiled_shapes.set(runtime.compiled_shapes)
        self.service.ready = True
        self.metrics.ready.set(1)
        await self._set_health(SERVING)
        log.info(
            "SERVING %s %s (%s) after %.1f s warm-up of %d shapes (batch sizes %s)",
            identity.task, identity.model_version, ", ".join(self.service.methods), warm_s, runtime.compiled_shapes,
            list(runtime.shapes),
        )

    def _feedback_desk(self) -> Optional[FeedbackDesk]:
        s = self.settings
        if s.reactions is None:
            return None
        reaction_log = ReactionLog(s.reactions, s.instance, observer=self.metrics)
        log.info("reactions go to %s (segments of %d bytes, batches of %d, queue %d); answers remembered %.0f s, "
                 "the last %d", s.reactions.directory, s.reactions.segment_bytes, s.reactions.batch_size,
                 s.reactions.queue_size, s.answer_ttl_s, s.answer_capacity)
        return FeedbackDesk(AnswerMemory(s.answer_capacity, s.answer_ttl_s), reaction_log, self.metrics, s.instance)

    def request_stop(self) -> None:
        self._stop.set()

    async def drain_and_stop(self) -> None:
        s = self.settings
        log.info("shutting down: health NOT_SERVING, draining for %.1f s", s.drain_delay_s)
        self.metrics.ready.set(0)
        await self.health.enter_graceful_shutdown()
        if s.drain_delay_s > 0:
            await asyncio.sleep(s.drain_delay_s)  # still answering while traffic moves away
        if self._server is not None:
            await self._server.stop(s.grace_s)  # refuse new RPCs; wait for accepted ones
        if self.service is not None:
            await self.service.close()
        log.info("stopped; every accepted request was answered")

    async def run(self, load: Callable[[], tuple[ServingRuntime, ServedIdentity]]) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.request_stop)
        await self.start()
        loading = asyncio.ensure_future(self.load(load))
        stopping = asyncio.ensure_future(self._stop.wait())
        done, _ = await asyncio.wait({loading, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if loading in done:
            error = loading.exception()
            if error is not None:  # exit non-zero with the reason on one line; the pod restarts
                log.error("cannot serve: %s: %s", type(error).__name__, error, exc_info=None if isinstance(error, (OSError, ValueError)) else error)
                stopping.cancel()
                if self._server is not None:
                    await self._server.stop(0)
                return 1
            await stopping
        await self.drain_and_stop()
        return 0
