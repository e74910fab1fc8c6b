"""`rejoinder report --model chat-retrieval`: the upvote ratio per served version, from the reaction log.

Prints one row per served version (model+reranker: reactions, upvotes, ratio, first and last
reaction) and writes a PNG of each version's cumulative upvote ratio over time, the seed's "total
upvotes ratio dynamics". The title says when the reactions came from simulated users.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any, Optional, Sequence

from ..constants import CANARY_FILE, DEFAULT_NAMESPACE, RFC3339
from ._times import rfc3339

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
    parser.add_argument("--since", type=rfc3339, metavar="TIME",
                        help="also count from this RFC 3339 time on, e.g. a canary's start: versions served side "
                             "by side compare only over the same period (default: the start of the local loop's "
                             f"last canary, from <model>/{CANARY_FILE}, if there is one)")
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


def _canary_start(model_root: Path) -> Optional[datetime]:
    """When the local loop's last canary started (its judgement's counting start), if it ran."""
    from ..pipeline.conditions import parse_rfc3339

    try:
        return parse_rfc3339(json.loads((model_root / CANARY_FILE).read_text(encoding="utf-8")).get("since"))
    except (OSError, ValueError, AttributeError):
        return None


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
    root = ModelLayout.for_model(storage, args.namespace, model).root
    since = args.since or _canary_start(root)
    png = args.png or root / REPORT_PNG
    write_plot(records, report.title(records, model), png, since)
    print(report.title(records, model))
    print(report.format_table(rows))
    later = report.from_time(records, since) if since is not None else []
    if later:
        print(f"\nfrom {since.strftime(RFC3339)} on (the same period for every version served in it):")
        print(report.format_table(report.by_version(later)))
    print(f"\nplot: {png}")
    return 0


def write_plot(records: Sequence, title: str, png: Path, since: Optional[datetime] = None) -> None:
    """Each version's cumulative upvote ratio against minutes since the first reaction (atomic
    write). With `since`, a line marks it and each version's ratio counted from it on is drawn
    dashed: a version served before and after it is compared with a newer one over the same period."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..atomic import write_bytes
    from ..feedback.report import cumulative_ratios, from_time

    start = min(r.time for r in records)
    minutes = lambda points: [(p.time - start).total_seconds() / 60 for p in points]  # noqa: E731
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=100)
    colours: dict[str, Any] = {}
    for version, points in cumulative_ratios(records).items():
        (line,) = ax.step(minutes(points), [p.ratio for p in points], where="post",
                          label=f"{version}: {points[-1].ratio:.3f} of {points[-1].reactions}")
        colours[version] = line.get_color()
    later = from_time(records, since) if since is not None else []
    if later:
        cut = (since - start).total_seconds() / 60
        ax.axvline(cut, color="grey", linestyle=":", linewidth=1)
        ax.annotate(f" from {since:%H:%M:%S}Z", (cut, 0.02), xycoords=("data", "axes fraction"), fontsize=8, color="grey")
        for version, points in cumulative_ratios(later).items():
            ax.step(minutes(points), [p.ratio for p in points], where="post", linestyle="--",
                    color=colours.get(version), label=f"{version} from {since:%H:%M:%S}Z: "
                                                      f"{points[-1].ratio:.3f} of {points[-1].reactions}")
    highest = max(p.ratio for points in cumulative_ratios(records).values() for p in points)
    ax.set_ylim(0, min(1.0, highest * 1.25 + 0.05))  # low ratios stay readable
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
