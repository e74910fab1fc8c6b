"""`rejoinder build-index -f dialogmodel.yaml`: encode the candidates and publish the FAISS index.

In a pod (the operator's Job) everything comes from the DialogModel: the bundle at
versions/<v>/export, the candidates at versions/<v>/data/candidates.jsonl (written by training)
or spec.data.candidates, the index settings in spec.index, the output versions/<v>/index/<i>/.
Without -f, give --bundle, --candidates and --output explicitly.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "build-index",
        help="encode candidate responses and build the FAISS index (retrieval models)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-f", "--file", type=Path, help="DialogModel YAML (e.g. /etc/rejoinder/dialogmodel.yaml)")
    parser.add_argument("--version", help="model version to index (default: the version the spec trains)")
    parser.add_argument("--bundle", type=Path, help="exported model bundle directory (overrides the layout)")
    parser.add_argument("--candidates", type=Path, help="candidates JSONL of {id, text} (overrides the layout)")
    parser.add_argument("--output", type=Path, help="index directory to publish (overrides the layout)")
    parser.add_argument("--kind", choices=["auto", "flat", "hnsw", "ivf"], help="override spec.index.kind")
    parser.add_argument("--runtime", choices=["auto", "tensorflow", "onnxruntime"],
                        help="encoder runtime (default spec.serving.runtime: the server's, so index and queries match)")
    parser.add_argument("--precision", choices=["auto", "none", "int8"],
                        help="encoder precision (default spec.serving.mixedPrecision, as the server resolves it)")
    parser.add_argument("--recall-sample", type=int, help="queries for recall@20 (default spec.index.recallSample or 1000)")
    parser.add_argument("--batch-size", type=int, default=256, help="candidates encoded per model call")
    parser.add_argument("--gpu", action="store_true", default=None, help="build on GPU when FAISS has one")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ._load import dialog_model_or_exit
    from rejoinder.text.formats import RecordKind, read_records

    from rejoinder.modelserver import index as ix
    from rejoinder.modelserver.build_index import build_and_publish
    from rejoinder.modelserver.locate import locate
    from rejoinder.cpus import allowed_cpus
    from rejoinder.modelserver.loading import choose_for_bundle, load_for_serving
    from rejoinder.models.shapes import DEFAULT_MAX_BATCH_SIZE
    from rejoinder.tasks import task_module

    model = None
    if args.file is not None:
        model = dialog_model_or_exit(args.file)
        if not task_module(model.spec.task).builds_index:
            print(f"{args.file}: build-index is for retrieval models; this one is {model.spec.task}", file=sys.stderr)
            return 2
    elif not (args.bundle and args.candidates and args.output):
        print("build-index needs -f DIALOGMODEL.yaml, or all of --bundle, --candidates and --output", file=sys.stderr)
        return 2

    extra: dict = {}
    params = ix.IndexParams()
    recall_sample, use_gpu = 1000, False
    bundle_dir, candidates, output = args.bundle, args.candidates, args.output
    if model is not None:
        where = locate(model, args.version)
        bundle_dir = bundle_dir or where.bundle_dir
        output = output or where.index_dir
        if candidates is None:
            candidates = where.version_dir.data_dir / "candidates.jsonl"
            if not candidates.is_file() and model.spec.data.candidates:
                candidates = Path(model.spec.data.candidates)
        params = ix.IndexParams.from_spec(model.spec.index)
        recall_sample, use_gpu = model.spec.index.recall_sample, model.spec.index.gpu
        extra = {
            "name": model.metadata.name, "namespace": where.namespace,
            "modelVersion": where.model_version, "indexVersion": where.index_version,
        }
    if args.kind:
        params = ix.IndexParams(**{**params.__dict__, "kind": args.kind})
    recall_sample = args.recall_sample or recall_sample
    use_gpu = bool(args.gpu if args.gpu is not None else use_gpu)
    if use_gpu and not ix.gpu_available():
        log.warning("a GPU build was asked for but FAISS sees no GPU: building on the CPU")
        use_gpu = False

    if not candidates.is_file():
        print(f"no candidates at {candidates}: training writes them (retrieval), or pass --candidates", file=sys.stderr)
        return 2
    records = list(read_records(candidates, RecordKind.candidates))
    # The replies are encoded as the server will encode queries: same runtime, same precision.
    runtime = args.runtime or (str(model.spec.serving.runtime) if model is not None else "auto")
    precision = args.precision or (str(model.spec.serving.mixed_precision) if model is not None else "auto")
    if precision in ("float16", "bfloat16"):
        precision = "none"  # a GPU server's mixed precision; the index is built in float32
    choice = choose_for_bundle(bundle_dir, runtime, precision)
    log.info("encoding with %s, %s (%s)", choice.runtime, choice.precision, choice.reason)
    bundle = load_for_serving(bundle_dir, choice, False, allowed_cpus(), sequence_buckets=None,
                              max_batch_size=DEFAULT_MAX_BATCH_SIZE)
    extra.setdefault("modelVersion", bundle.version)
    extra.setdefault("indexVersion", output.name)
    texts = [r.text for r in records]
    vectors = queries = None
    if model is not None and args.bundle is None:  # the layout's version: what its evaluation stored
        from rejoinder.models import stored_embeddings

        runtime_used, precision_used = stored_embeddings.engine_of(bundle)
        version_dir = where.version_dir.root
        vectors = stored_embeddings.load_pool(version_dir, version=bundle.version, runtime=runtime_used,
                                              precision=precision_used, texts=texts)
        queries = stored_embeddings.load_contexts(version_dir, version=bundle.version, runtime=runtime_used,
                                                  precision=precision_used)
    manifest = build_and_publish(
        bundle, [r.id for r in records], texts, params, output,
        recall_sample=recall_sample, use_gpu=use_gpu, batch_size=args.batch_size, extra=extra,
        vectors=vectors, queries=queries,
    )
    print(f"{output}: {ix.describe(manifest)}, built in {manifest['totalSeconds']:.1f} s")
    return 0
