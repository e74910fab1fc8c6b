"""`rejoinder train -f dialogmodel.yaml`: the command training pods run under horovodrun/mpirun,
and the one local mode runs. Every rank runs it; rank 0 writes."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from ..constants import DEFAULT_NAMESPACE


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train",
        help="prepare data, train (Horovod when launched by horovodrun/mpirun), evaluate and export a DialogModel",
        description="Train one DialogModel version: data → tokenizer → shards → training loop with checkpoints "
        "→ evaluation → export. Resumes from the last checkpoint when run again.",
    )
    parser.add_argument("-f", "--file", required=True, type=Path, help="the DialogModel YAML (one document)")
    parser.add_argument("--artifacts", type=Path, default=None,
                        help="artifacts root; default spec.storage.path")
    parser.add_argument("--namespace", default=None,
                        help=f"namespace part of the artifact layout; default metadata.namespace or {DEFAULT_NAMESPACE!r}")
    parser.add_argument("--no-horovod", action="store_true",
                        help="train as a single process even if Horovod is installed")
    parser.add_argument("--stop-after", type=int, default=None, metavar="STEPS",
                        help="end this run after STEPS more steps, leaving a checkpoint (no evaluation/export)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ._load import dialog_model_or_exit

    model = dialog_model_or_exit(args.file)
    if args.stop_after is not None and args.stop_after < 1:
        print("--stop-after must be at least 1", file=sys.stderr)
        return 2

    import os

    # TensorFlow's C++ start-up chatter (oneDNN, CUDA probing) drowns the training log.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    logging.getLogger("absl").setLevel(logging.WARNING)
    from ..training.pipeline import TrainOptions, train
    from ..text.formats import DataFormatError

    options = TrainOptions(
        artifacts=args.artifacts or Path(model.spec.storage.path),
        namespace=args.namespace or model.metadata.namespace or DEFAULT_NAMESPACE,
        use_horovod=not args.no_horovod,
        stop_after=args.stop_after,
    )
    try:
        train(model, options)
    except (DataFormatError, FileNotFoundError, ValueError) as error:
        log = logging.getLogger("rejoinder.train")
        log.error("%s", error, exc_info=log.isEnabledFor(logging.DEBUG))
        return 1
    return 0
