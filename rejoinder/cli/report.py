"""`rejoinder report --model chat-retrieval`: the upvote ratio per served version, from the reaction log.

Prints one row per served version (model+reranker: reactions, upvotes, ratio, first and last
reaction) and writes a PNG of each version's cumulative upvote ratio over time, the seed's "total
upvotes ratio dynamics". The title says when the reactions came from simulated users.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from ..constants import DEFAULT_NAMESPACE

REPORT_PNG = "upvote-ratio.png"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "report", help="upvote ratio per served version from the reaction log (table + PNG plot)",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    source = parser.add_mutually_exclusive_group()
    source.add_argument("-f", "--file", type=Path, help="DialogModel YAML: its storage.path and name (the served one)")
    source.add_argument("--artifacts", type=Path, default=Path(".rejoinder"),
                        help="artifacts directory (default: .rejoinder)")
    parser.add_argument("--model", help="the served DialogModel whose reactions to read")
    parser.add_argument("--namespace", default=DEFAULT_NAMESPACE)
    parser.add_argument("--png", type=Path, help=f"where to write the plot (default: <model>/{REPORT_PNG})")
    parser.set_defaults(run=run)


def _served_model(args: argparse.Namespace) -> tuple[Path, str]:
    if args.file is None:
        if not args.model:
            raise SystemExit("give --model NAME (or -f FILE)")
        return args.artifacts, args.model
    from ._load import dialog_models_or_exit

    models = dialog_models_or_exit(args.file)
    chosen = [m for m in models if (m.metadata.name == args.model if args.model else m.spec.serving.enabled)]
    if len(chosen) != 1:
        raise SystemExit(f"{args.file}: name the model with --model (served: {[m.metadata.name for m in chosen]})")
    return Path(chosen[0].spec.storage.path), chosen[0].metadata.name


def run(args: argparse.Namespace) -> int:
    from ..artifacts import ModelLayout
    from ..feedback import report
    from ..feedback.segments import reactions_dir, read_reactions

    storage, model = _served_model(args)
    directory = reactions_dir(storage, args.namespace, model)
    records = report.unique(read_reactions(directory))
    if not records:
        print(f"no reactions in {directory}", file=sys.stderr)
        return 1
    rows = report.by_version(records)
    png = args.png or ModelLayout.for_model(storage, args.namespace, model).root / REPORT_PNG
    write_plot(records, report.title(records, model), png)
    print(report.title(records, model))
    print(report.format_table(rows))
    print(f"\nplot: {png}")
    return 0


def write_plot(records: Sequence, title: str, png: Path) -> None:
    """Each version's cumulative upvote ratio against minutes since the first reaction (atomic write)."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..atomic import write_bytes
    from ..feedback.report import cumulative_ratios

    start = min(r.time for r in records)
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=100)
    for version, points in cumulative_ratios(records).items():
        minutes = [(p.time - start).total_seconds() / 60 for p in points]
        ax.step(minutes, [p.ratio for p in points], where="post",
                label=f"{version}: {points[-1].ratio:.3f} of {points[-1].reactions}")
    ax.set_ylim(0, 1)
    ax.set_xlabel("minutes since the first reaction")
    ax.set_ylabel("cumulative upvote ratio")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    png.parent.mkdir(parents=True, exist_ok=True)
    write_bytes(png, buffer.getvalue())
