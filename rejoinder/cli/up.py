"""`rejoinder up -f dialogmodel.yaml`: the whole pipeline on this machine, then serve it."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..constants import GRPC_PORT, LOCAL_HOST, METRICS_PORT


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "up",
        help="train, index and serve a DialogModel on this machine (local mode)",
        description="Runs the operator's stages locally: data → tokenizer → training (under horovodrun -np 2 "
        "when Horovod is installed) → evaluation → index → model server on 127.0.0.1 in the foreground. "
        "Finished stages of the same model version are reused; an interrupted one resumes. Ctrl-C stops.",
    )
    parser.add_argument("-f", "--file", type=Path, required=True,
                        help="DialogModel YAML; several documents (e.g. a retrieval model and its reranker) are "
                        "trained dependencies first, and the one with serving enabled is served")
    parser.add_argument("--host", default=LOCAL_HOST)
    parser.add_argument("--port", type=int, default=GRPC_PORT, help=f"gRPC port (default {GRPC_PORT}; 0: any free port)")
    parser.add_argument("--metrics-port", type=int, default=METRICS_PORT,
                        help=f"Prometheus port (default {METRICS_PORT}; 0: any free port)")
    parser.add_argument("--ready-timeout", type=float, default=600.0, help="seconds to wait for SERVING")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--horovod", dest="horovod", action="store_true", default=None,
                       help="require Horovod (default: use it when installed)")
    group.add_argument("--no-horovod", dest="horovod", action="store_false", help="train as one process")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import signal

    from ..local import supervisor
    from ..local.processes import become_subreaper
    from ..local.runner import up
    from ._load import dialog_models_or_exit

    models = dialog_models_or_exit(args.file)
    become_subreaper()  # a stage's orphans come to `up`, which kills them on the way out
    supervisor.install_signal_handlers()
    try:
        return up(models, host=args.host, port=args.port, metrics_port=args.metrics_port,
                  ready_timeout=args.ready_timeout, use_horovod=args.horovod)
    finally:
        for sig in (signal.SIGHUP, signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, signal.SIG_IGN)
        supervisor.sweep()
