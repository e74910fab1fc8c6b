"""The Chit-Chat retrieval table of docs/quality.md, from a record of trained versions.

    .venv/bin/python bench/quality/chitchat_retrieval.py --write-docs \\
        "quickstart (lr 2e-5), seed 42=.rejoinder/default/quickstart/versions/v-…"
    .venv/bin/python bench/quality/chitchat_retrieval.py --time-to-serving /tmp/rejoinder-up-…/result.json

Each version was trained by `rejoinder up` / `horovodrun … rejoinder train` on the chitchat preset
and evaluated as served (every dev and test context against the whole pool of ~122k replies,
the no-parroting rule on every row). The untrained start and BM25 come from the same files, so a
row's gain is paired with its own start. Dev is what recipes are chosen on; test is only reported.

What the table needs of each version (its metrics and recipe) is kept in RECORD, so the table can
be rendered again after the versions' files are gone; a run named again replaces its entry. The
note under the table is NOTE, written by hand.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchdocs import replace_section  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
QUALITY = ROOT / "docs" / "quality.md"
RECORD = ROOT / "bench" / "results" / "chitchat-retrieval.json"
NOTE = ROOT / "bench" / "results" / "chitchat-retrieval-note.md"
HEADING = "## Retrieval on Chit-Chat"
METRICS = ("recall@1", "recall@5", "recall@20", "mrr@20")
GAINS = ("recall@5", "mrr@20")
SPLITS = ("dev", "test")


def by_split(metrics: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """metrics.json's evaluation blocks: dev at the top level, test under "test"."""
    return {"dev": metrics, "test": metrics["test"]}


def recipe(metrics: dict[str, Any], spec: dict[str, Any], echo_default: bool) -> str:
    t = metrics["training"]
    echo = spec.get("training", {}).get("contrastiveLoss", {}).get("echoNegatives", echo_default)
    return (f"{t['steps']} steps × {t['globalBatch']} pairs, lr {spec['training']['learningRate']}, "
            f"echo negatives {'on' if echo else 'off'}, "
            f"{t['seconds']:.0f} s training at {t['examplesPerSec']} pairs/s; served {metrics.get('engine', '?').split(' (')[0]}")


def entry(metrics: dict[str, Any], spec: dict[str, Any], echo_default: bool = False) -> dict[str, Any]:
    """What the table keeps of one version: per split the model's, the start's and BM25's
    metrics, the paired gains with their intervals and the echo rates; and the recipe."""
    out: dict[str, Any] = {"recipe": recipe(metrics, spec, echo_default)}
    for split, block in by_split(metrics).items():
        out[split] = {
            "model": {m: block["metrics"][m] for m in METRICS},
            "start": {m: block["baselines"]["init"][m] for m in METRICS},
            "bm25": {m: block["baselines"]["bm25"][m] for m in METRICS},
            "gain": {m: block["gainOverStart"][m] for m in GAINS},
            "gainInterval": {m: list(block["gainIntervals"][m]) for m in GAINS},
            "echoTop1": {"model": block["echoTop1"]["model"], "start": block["echoTop1"]["init"]},
        }
    return out


def _gain(block: dict[str, Any], metric: str) -> str:
    lo, hi = block["gainInterval"][metric]
    return f"{block['gain'][metric]:+.4f} [{lo:+.4f}, {hi:+.4f}]"


def rows(name: str, run: dict[str, Any]) -> list[str]:
    out = []
    for split in SPLITS:
        b = run[split]
        cells = [f"{b['model'][m]:.4f} ({b['start'][m]:.4f}; {b['bm25'][m]:.4f})" for m in METRICS]
        out.append(f"| {name} | {split} | " + " | ".join(cells) + f" | {_gain(b, 'recall@5')} | {_gain(b, 'mrr@20')} |"
                   f" {b['echoTop1']['model']:.2f} ({b['echoTop1']['start']:.2f}) |")
    return out


def recipe_name(run: str) -> str:
    """A run's recipe: its name without the trailing ", seed N" (runs of one recipe share it)."""
    return re.sub(r",\s*seed\s+\d+$", "", run)


def seed_summary(runs: list[tuple[str, dict[str, Any]]]) -> list[str]:
    """One line per recipe and split with two or more seeds: the seeds' mean of R@5, R@20 and
    MRR@20 beside their starts' mean, R@20 and MRR@20 as multiples of the start (the longer
    recipe's goal is 1.3×), and whether every seed beat its own start outside the paired interval
    on R@5 and on MRR@20 (the quickstart's goal)."""
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for name, run in runs:
        groups[recipe_name(name)].append(run)
    lines = []
    for recipe_, seeds in groups.items():
        if len(seeds) < 2:
            continue
        for split in SPLITS:
            blocks = [run[split] for run in seeds]
            mean = {k: sum(b["model"][k] for b in blocks) / len(blocks) for k in METRICS}
            start = {k: sum(b["start"][k] for b in blocks) / len(blocks) for k in METRICS}
            beat = {k: all(b["gainInterval"][k][0] > 0 for b in blocks) for k in GAINS}
            lines.append(
                f"| {recipe_} | {len(seeds)} | {split} | {mean['recall@5']:.4f} ({start['recall@5']:.4f}) | "
                f"{mean['recall@20']:.4f} ({start['recall@20']:.4f}) | {mean['mrr@20']:.4f} ({start['mrr@20']:.4f}) | "
                f"{mean['recall@20'] / start['recall@20']:.2f}× | {mean['mrr@20'] / start['mrr@20']:.2f}× | "
                f"{'yes' if beat['recall@5'] else 'no'} | {'yes' if beat['mrr@20'] else 'no'} |")
    if not lines:
        return []
    return ["Mean over seeds (the start's mean in brackets); *all above*: every seed's paired 95 % interval of "
            "the gain over its own start lies above zero.", "",
            "| recipe | seeds | split | R@5 | R@20 | MRR@20 | R@20 × start | MRR@20 × start | all above, R@5 | all above, MRR@20 |",
            "|---|---:|---|---:|---:|---:|---:|---:|---|---|", *lines]


def serving_line(serving: dict[str, Any]) -> str:
    """The quickstart's time from `rejoinder up` to Serving, fresh storage (nothing cached)."""
    return (f"Time from `rejoinder up -f {serving['spec']}` with fresh storage (nothing cached: the untrained start "
            f"and BM25 are scored too) to phase Serving: **{serving['seconds'] / 60:.1f} minutes** ({serving['seconds']:.0f} s), "
            f"measured by `cd bench && python -m quality.time_to_serving ../{serving['spec']}`; 1-minute load "
            f"average {serving['loadavgBefore'][0]:.1f} before, {serving['loadavgAfter'][0]:.1f} after, on "
            f"{serving['cores']} cores.")


def markdown(record: dict[str, Any], note: str = "") -> str:
    head = ("Data: the chitchat preset (docs/data.md): 100,861 train pairs; 13,320 dev and 14,467 test contexts, each "
            "ranked against all 122,315 distinct replies (the served index's pool), a reply equal to one of the "
            "context's own turns never counted (the no-parroting rule). Cells: the model (its untrained start, "
            "MiniLM-L6; BM25). Gains over the start with 95 % paired bootstrap intervals. Echo@1: share of contexts "
            "whose top candidate before the rule is one of their own turns (start's in brackets). Rendered by "
            "`bench/quality/chitchat_retrieval.py` from `bench/results/chitchat-retrieval.json`.\n\n"
            "| run | split | R@1 | R@5 | R@20 | MRR@20 | gain R@5 | gain MRR@20 | echo@1 |\n"
            "|---|---|---:|---:|---:|---:|---:|---:|---:|\n")
    runs = list(record["runs"].items())
    body = [line for name, run in runs for line in rows(name, run)]
    recipes = [f"- **{name}**: {run['recipe']}." for name, run in runs]
    summary = seed_summary(runs)
    parts = [head + "\n".join(body), *(["\n".join(summary)] if summary else []), "\n".join(recipes)]
    if record.get("timeToServing"):
        parts.append(serving_line(record["timeToServing"]))
    if note.strip():
        parts.append(note.strip())
    return "\n\n".join(parts) + "\n"


def add_version(record: dict[str, Any], name: str, version: Path, echo_default: bool) -> None:
    import yaml

    metrics = json.loads((version / "metrics.json").read_text())
    spec = yaml.safe_load((version / "spec.yaml").read_text())
    record["runs"][name] = {**entry(metrics, spec.get("spec", spec), echo_default), "version": str(version)}


def add_time_to_serving(record: dict[str, Any], result_file: Path) -> None:
    result = json.loads(result_file.read_text())
    if result["phase"] != "Serving":
        raise SystemExit(f"{result_file}: `rejoinder up` ended in {result['phase']}, not Serving")
    record["timeToServing"] = {k: result[k] for k in ("spec", "seconds", "loadavgBefore", "loadavgAfter", "cores")}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="*", help="NAME=VERSION_DIR: a trained version (metrics.json, spec.yaml) to add to the record")
    parser.add_argument("--write-docs", action="store_true", help=f"replace '{HEADING}' in docs/quality.md")
    parser.add_argument("--echo-default-on", action="append", default=[], metavar="NAME",
                        help="a run trained when training.contrastiveLoss.echoNegatives defaulted to true")
    parser.add_argument("--time-to-serving", type=Path, metavar="RESULT_JSON",
                        help="the result.json of `python -m quality.time_to_serving` for the quickstart")
    parser.add_argument("--record", type=Path, default=RECORD)
    args = parser.parse_args(argv)
    record = json.loads(args.record.read_text()) if args.record.exists() else {"runs": {}}
    for run in args.runs:
        name, version = run.split("=", 1)
        add_version(record, name, Path(version), name in args.echo_default_on)
    if args.time_to_serving:
        add_time_to_serving(record, args.time_to_serving)
    if args.runs or args.time_to_serving:
        from rejoinder.atomic import write_text

        write_text(args.record, json.dumps(record, indent=1) + "\n")  # not write_json: it sorts, and run order is row order
    text = markdown(record, NOTE.read_text() if NOTE.exists() else "")
    print(text)
    if args.write_docs:
        replace_section(QUALITY, HEADING, text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
