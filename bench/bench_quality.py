"""Model quality, measured the way the seed's table reports it: every number of a section comes
from one run of this script on the same data (the chatterbot corpus and its held-out splits).

    python bench/bench_quality.py --section retrieval|reranking|session|all [--write-docs]

Each section is a module of bench/quality/ with HEADING (its "## " heading in docs/quality.md)
and `run(args) -> str` (the section's markdown body); `add_arguments(parser)` adds its options.
Sections that train cache their runs in a results JSON so an interrupted run resumes.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from benchdocs import replace_section  # noqa: E402

DOCS = HERE.parent / "docs" / "quality.md"
# section name → module under bench/quality/
SECTIONS = {"retrieval": "quality.retrieval", "reranking": "quality.reranking", "session": "quality.session"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--section", choices=[*SECTIONS, "all"], default="all")
    parser.add_argument("--write-docs", action="store_true", help="replace the section(s) in docs/quality.md")
    modules = {name: importlib.import_module(module) for name, module in SECTIONS.items()}
    for module in modules.values():
        if hasattr(module, "add_arguments"):
            module.add_arguments(parser)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    for name in SECTIONS if args.section == "all" else [args.section]:
        module = modules[name]
        body = module.run(args)
        print(f"{module.HEADING}\n\n{body}")
        if args.write_docs:
            replace_section(DOCS, module.HEADING, body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
