"""`rejoinder crd`: print the DialogModel CRD generated from the typed API."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..api.crd import render_crd
from ..atomic import write_text


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("crd", help="print the DialogModel CustomResourceDefinition")
    parser.add_argument("-o", "--output", type=Path, help="write to this file instead of stdout")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    text = render_crd()
    if args.output:
        write_text(args.output, text)
    else:
        sys.stdout.write(text)
    return 0
