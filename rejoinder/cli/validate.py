"""`rejoinder validate FILE...`: check DialogModel YAML files (multi-document) before applying."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..api import InvalidDialogModel, load_dialog_models
from ..api.versioning import model_version


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "validate", help="validate DialogModel YAML files; exit 1 naming each bad field"
    )
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    failed = False
    for path in args.files:
        if not path.is_file():
            print(f"{path}: no such file", file=sys.stderr)
            failed = True
            continue
        try:
            models = load_dialog_models(path)
        except InvalidDialogModel as error:
            for problem in error.problems:
                print(problem, file=sys.stderr)
            failed = True
            continue
        for model in models:
            print(f"{path}: {model.metadata.name}: valid ({model.spec.task.value}, version {model_version(model.spec)})")
    return 1 if failed else 0
