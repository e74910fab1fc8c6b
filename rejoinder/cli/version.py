"""`rejoinder version`"""

from __future__ import annotations

import argparse

from .. import __version__
from ..api import API_VERSION


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("version", help="print the rejoinder and API versions")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    print(f"rejoinder {__version__} (API {API_VERSION})")
    return 0
