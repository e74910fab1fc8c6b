"""`rejoinder render -f dm.yaml [--phase training|indexing|serving]`: print, as YAML, the objects the
operator would create for a DialogModel (like `helm template`), from the operator's own builders,
to review them before applying or to validate them (kubectl apply --dry-run=server, kubeconform)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

from ._load import dialog_models_or_exit

NO_UID = "00000000-0000-0000-0000-000000000000"  # the apiserver assigns the real one


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "render", help="print the Kubernetes objects the operator would create for a DialogModel")
    parser.add_argument("-f", "--file", type=Path, required=True, help="DialogModel YAML")
    parser.add_argument("--phase", action="append", choices=["training", "indexing", "serving"],
                        help="only this phase's objects (repeatable; default: all three)")
    parser.add_argument("-n", "--namespace", help="namespace (default: the file's, else 'default')")
    parser.add_argument("--uid", default=NO_UID, help="the DialogModel's uid for ownerReferences and names")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from rejoinder.operator.children import ParsedDialogModel
    from rejoinder.operator.manifests import PHASES, render
    from rejoinder.operator.settings import OperatorSettings

    settings = OperatorSettings.from_env()
    objects: list = []
    for dm in dialog_models_or_exit(args.file):  # a multi-document file: every model's objects
        namespace = args.namespace or dm.metadata.namespace or "default"
        model = ParsedDialogModel(name=dm.metadata.name, namespace=namespace, uid=args.uid, spec=dm.spec)
        objects += render(model, settings, args.phase or PHASES)
    sys.stdout.write(yaml.safe_dump_all(objects, sort_keys=False, width=120))
    return 0
