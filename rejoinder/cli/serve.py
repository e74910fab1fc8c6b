"""`rejoinder serve -f dialogmodel.yaml`: the gRPC model server (Deployment command, local mode).

Paths come from the DialogModel's artifact layout (bundle versions/<v>/export, index
versions/<v>/index/<i>, reranker: the newest export of spec.serving.reranker); batching,
precision, XLA and top-k from spec.serving (without -f: the API defaults), then the flags given
(modelserver/config.py resolves them). Explicit --bundle/--index/--reranker-bundle
override the layout or replace -f entirely. gRPC health ("" and
rejoinder.serving.v1.DialogService) is NOT_SERVING until the model is loaded and warmed up.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from ..constants import GRPC_PORT, LOCAL_HOST, METRICS_PORT

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "serve", help="serve a model over gRPC (health, reflection, Prometheus metrics)", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-f", "--file", type=Path, help="DialogModel YAML (e.g. /etc/rejoinder/dialogmodel.yaml)")
    parser.add_argument("--version", help="model version to serve (default: the version the spec trains; older = rollback)")
    parser.add_argument("--bundle", type=Path, help="exported bundle directory")
    parser.add_argument("--index", type=Path, help="index directory (retrieval)")
    parser.add_argument("--reranker-bundle", type=Path, help="a reranking bundle Respond reranks with")
    parser.add_argument("--reranker-version",
                        help="with -f: serve this version of spec.serving.reranker (default: its newest export); "
                             "a canary pins the new one, the stable server keeps its own")
    parser.add_argument("--host", default=LOCAL_HOST, help="listen address (0.0.0.0 in a pod)")
    parser.add_argument("--port", type=int, default=GRPC_PORT, help=f"gRPC port (default {GRPC_PORT}; 0 = any free port)")
    parser.add_argument("--metrics-port", type=int, default=METRICS_PORT,
                        help=f"Prometheus /metrics port (default {METRICS_PORT}); -1 disables")
    parser.add_argument("--instance", help="name of this server process in ModelInfo (default: host name/pid)")
    # Flag defaults are the spec's fields; without -f the DialogModel API's own defaults apply
    # (rejoinder.modelserver.config, the one place they are resolved; not imported here: the CLI
    # starts without pydantic).
    parser.add_argument("--max-batch-size", type=int, help="default spec.serving.batching.maxBatchSize")
    parser.add_argument("--max-delay-ms", type=float, help="default spec.serving.batching.maxQueueDelayMs")
    parser.add_argument("--queue-capacity", type=int, help="default spec.serving.batching.queueCapacity")
    parser.add_argument("--sequence-buckets", type=_lengths,
                        help="comma-separated lengths, e.g. 16,32,48 (default spec.serving.batching.sequenceBuckets, "
                             "else 16, 32, … up to the model's length; the model's full length = fixed shapes)")
    parser.add_argument("--max-batch-tokens", type=int,
                        help="padded-token budget per batch (default spec.serving.batching.maxBatchTokens)")
    parser.add_argument("--precision", choices=["auto", "none", "float16", "bfloat16", "int8"],
                        help="default spec.serving.mixedPrecision")
    parser.add_argument("--runtime", choices=["auto", "tensorflow", "onnxruntime"], help="default spec.serving.runtime")
    parser.add_argument("--xla", action=argparse.BooleanOptionalAction, default=None, help="default spec.serving.xla")
    parser.add_argument("--top-k", type=int, help="default top-k (spec.serving.topK)")
    parser.add_argument("--search-threads", type=int,
                        help="FAISS threads per search (default: the CPUs this process may use, minus one for "
                             "the event loop, at least 1; docs/serving.md)")
    parser.add_argument("--drain-delay", type=float, default=2.0,
                        help="seconds to keep answering after SIGTERM while health is NOT_SERVING (default 2)")
    parser.add_argument("--grace", type=float, default=30.0, help="seconds to finish accepted requests on shutdown")
    parser.add_argument("--max-message-bytes", type=int, default=4 * 1024 * 1024,
                        help="largest request accepted, in bytes (default 4 MiB; larger: RESOURCE_EXHAUSTED)")
    feedback = parser.add_argument_group("feedback (docs/feedback.md)")
    feedback.add_argument("--reactions-dir", type=Path,
                          help="where this server's reaction segments go (default with -f: "
                               "<storage.path>/<namespace>/<name>/reactions; without -f and this flag: Feedback is off)")
    feedback.add_argument("--reaction-segment-bytes", type=int, help="rotate a segment at this size (default 64 MiB)")
    feedback.add_argument("--reaction-queue", type=int,
                          help="reactions waiting for the disk before RESOURCE_EXHAUSTED (default 4096)")
    feedback.add_argument("--reaction-batch", type=int,
                          help="reactions per write + fsync (group commit; default 256; 1 = fsync each)")
    feedback.add_argument("--answer-memory", type=int,
                          help="answers remembered for Feedback by response id (default 200000)")
    feedback.add_argument("--answer-ttl", type=float, help="seconds an answer is remembered (default 3600)")
    parser.set_defaults(run=run)


def _lengths(text: str) -> tuple[int, ...]:
    try:
        lengths = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated lengths such as 16,32,48, got {text!r}") from None
    if any(n < 1 for n in lengths) or len(set(lengths)) != len(lengths):
        raise argparse.ArgumentTypeError(f"lengths must be positive and distinct, got {text!r}")
    return lengths


def run(args: argparse.Namespace) -> int:
    import asyncio

    from ._load import dialog_model_or_exit

    from rejoinder.modelserver import validation
    from rejoinder.modelserver.config import ServingFlags, resolve_serving
    from rejoinder.modelserver.loading import LoadRequest, load_runtime
    from rejoinder.feedback.segments import reactions_dir
    from rejoinder.modelserver.locate import NotFound, locate, reranker_bundle
    from rejoinder.modelserver.reaction_log import ReactionLogConfig
    from rejoinder.modelserver.server import ModelServer, ServerSettings
    from rejoinder.tasks import task_module

    model = None
    if args.file is not None:
        model = dialog_model_or_exit(args.file)
    elif args.bundle is None:
        print("serve needs -f DIALOGMODEL.yaml or --bundle (and --index for retrieval)", file=sys.stderr)
        return 2

    req = LoadRequest(bundle_dir=args.bundle or Path("."), index_dir=args.index, reranker_dir=args.reranker_bundle)
    if model is not None:
        spec = model.spec
        if not spec.serving.enabled:
            print(f"{args.file}: serving.enabled is false ({spec.task.value} models are not served)", file=sys.stderr)
            return 2
        where = locate(model, args.version)
        req.bundle_dir = args.bundle or where.bundle_dir
        if task_module(spec.task).builds_index:
            req.index_dir = args.index or where.index_dir
        try:
            req.reranker_dir = args.reranker_bundle or reranker_bundle(model, args.reranker_version)
        except NotFound as error:
            print(error, file=sys.stderr)
            return 2
        req.name, req.namespace = where.name, where.namespace
    elif args.reranker_version is not None:
        print("--reranker-version needs -f (it names a version of spec.serving.reranker)", file=sys.stderr)
        return 2
    config = resolve_serving(model.spec if model is not None else None, ServingFlags(
        max_batch_size=args.max_batch_size, max_delay_ms=args.max_delay_ms, queue_capacity=args.queue_capacity,
        sequence_buckets=args.sequence_buckets, max_batch_tokens=args.max_batch_tokens,
        precision=args.precision, runtime=args.runtime, xla=args.xla, top_k=args.top_k,
    ))
    req.precision, req.runtime, req.xla, req.gpu = config.precision, config.runtime, config.xla, config.gpu
    req.max_batch_size, req.sequence_buckets = config.batching.max_batch_size, config.batching.sequence_buckets
    if args.search_threads is not None and args.search_threads < 1:
        print(f"--search-threads must be at least 1, got {args.search_threads}", file=sys.stderr)
        return 2
    req.search_threads = args.search_threads

    settings = ServerSettings(
        host=args.host, port=args.port, metrics_port=None if args.metrics_port < 0 else args.metrics_port,
        batching=config.batching,
        limits=validation.Limits(max_context_turns=config.max_context_turns, default_top_k=config.top_k),
        drain_delay_s=args.drain_delay, grace_s=args.grace, max_message_bytes=args.max_message_bytes,
    )
    if args.instance:
        settings.instance = args.instance
    directory = args.reactions_dir or (
        reactions_dir(model.spec.storage.path, req.namespace, req.name) if model is not None else None
    )
    if directory is not None:
        given = {"segment_bytes": args.reaction_segment_bytes, "queue_size": args.reaction_queue,
                 "batch_size": args.reaction_batch}
        try:
            settings.reactions = ReactionLogConfig(directory, **{k: v for k, v in given.items() if v is not None})
        except ValueError as error:
            print(error, file=sys.stderr)
            return 2
    if args.answer_memory is not None:
        settings.answer_capacity = args.answer_memory
    if args.answer_ttl is not None:
        settings.answer_ttl_s = args.answer_ttl
    if settings.answer_capacity < 1 or settings.answer_ttl_s <= 0:
        print("--answer-memory must be >= 1 and --answer-ttl > 0", file=sys.stderr)
        return 2

    def load():
        runtime, identity = load_runtime(req)
        if runtime.index is not None:  # top_k cannot exceed the candidates there are
            settings.limits = validation.Limits(**{
                **settings.limits.__dict__, "max_top_k": min(settings.limits.max_top_k, runtime.index.size)
            })
        return runtime, identity

    server = ModelServer(settings)
    return asyncio.run(server.run(load))
