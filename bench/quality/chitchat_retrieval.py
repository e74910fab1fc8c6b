"""The Chit-Chat retrieval table of docs/quality.md, from the metrics.json of trained versions.

    .venv/bin/python bench/quality/chitchat_retrieval.py --write-docs \\
        quickstart=.rejoinder/default/quickstart/versions/v-… other=…/versions/v-…

Each version was trained by `rejoinder up` / `horovodrun … rejoinder train` on the chitchat preset
and evaluated as served (every dev and test context against the whole pool of ~122k replies,
the no-parroting rule on every row). The untrained start and BM25 come from the same files, so a
row's gain is paired with its own start. Dev is what recipes are chosen on; test is only reported.
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

QUALITY = Path(__file__).resolve().parents[2] / "docs" / "quality.md"
HEADING = "## Retrieval on Chit-Chat"
METRICS = ("recall@1", "recall@5", "recall@20", "mrr@20")


def _gain(block: dict[str, Any], metric: str) -> str:
    lo, hi = block["gainIntervals"][metric]
    return f"{block['gainOverStart'][metric]:+.4f} [{lo:+.4f}, {hi:+.4f}]"


def by_split(metrics: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """metrics.json's evaluation blocks: dev at the top level, test under "test"."""
    return {"dev": metrics, "test": metrics["test"]}


def rows(name: str, metrics: dict[str, Any]) -> list[str]:
    out = []
    for split, block in by_split(metrics).items():
        model, start, bm25 = block["metrics"], block["baselines"]["init"], block["baselines"]["bm25"]
        cells = [f"{model[m]:.4f} ({start[m]:.4f}; {bm25[m]:.4f})" for m in METRICS]
        out.append(f"| {name} | {split} | " + " | ".join(cells) + f" | {_gain(block, 'recall@5')} | {_gain(block, 'mrr@20')} |"
                   f" {block['echoTop1']['model']:.2f} ({block['echoTop1']['init']:.2f}) |")
    return out


def recipe(metrics: dict[str, Any], spec: dict[str, Any], echo_default: bool) -> str:
    t = metrics["training"]
    echo = spec.get("training", {}).get("contrastiveLoss", {}).get("echoNegatives", echo_default)
    return (f"{t['steps']} steps × {t['globalBatch']} pairs, lr {spec['training']['learningRate']}, "
            f"echo negatives {'on' if echo else 'off'}, "
            f"{t['seconds']:.0f} s training at {t['examplesPerSec']} pairs/s; served {metrics.get('engine', '?').split(' (')[0]}")


def recipe_name(run: str) -> str:
    """A run's recipe: its name without the trailing ", seed N" (runs of one recipe share it)."""
    return re.sub(r",\s*seed\s+\d+$", "", run)


def seed_summary(runs: list[tuple[str, dict[str, Any]]]) -> list[str]:
    """One line per recipe and split with two or more seeds: the seeds' mean of R@5, R@20 and
    MRR@20 beside their starts' mean, R@20 and MRR@20 as multiples of the start (the longer
    recipe's goal is 1.3×), and whether every seed beat its own start outside the paired interval
    on R@5 and on MRR@20 (the quickstart's goal)."""
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for name, metrics in runs:
        groups[recipe_name(name)].append(metrics)
    lines = []
    for recipe_, seeds in groups.items():
        if len(seeds) < 2:
            continue
        for split in ("dev", "test"):
            blocks = [by_split(m)[split] for m in seeds]
            mean = {k: sum(b["metrics"][k] for b in blocks) / len(blocks) for k in METRICS}
            start = {k: sum(b["baselines"]["init"][k] for b in blocks) / len(blocks) for k in METRICS}
            beat = {k: all(b["gainIntervals"][k][0] > 0 for b in blocks) for k in ("recall@5", "mrr@20")}
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


def markdown(runs: list[tuple[str, Path]], echo_default_on: frozenset[str] = frozenset()) -> str:
    """`echo_default_on`: runs trained while echoNegatives defaulted to on (their spec.yaml is as
    written, without defaults)."""
    import yaml

    head = ("Data: the chitchat preset (docs/data.md): 100,861 train pairs; 13,320 dev and 14,467 test contexts, each "
            "ranked against all 122,315 distinct replies (the served index's pool), a reply equal to one of the "
            "context's own turns never counted (the no-parroting rule). Cells: the model (its untrained start, "
            "MiniLM-L6; BM25). Gains over the start with 95 % paired bootstrap intervals. Echo@1: share of contexts "
            "whose top candidate before the rule is one of their own turns (start's in brackets).\n\n"
            "| run | split | R@1 | R@5 | R@20 | MRR@20 | gain R@5 | gain MRR@20 | echo@1 |\n"
            "|---|---|---:|---:|---:|---:|---:|---:|---:|\n")
    body, recipes, loaded = [], [], []
    for name, version in runs:
        metrics = json.loads((version / "metrics.json").read_text())
        spec = yaml.safe_load((version / "spec.yaml").read_text())
        spec = spec.get("spec", spec)
        body += rows(name, metrics)
        recipes.append(f"- **{name}**: {recipe(metrics, spec, name in echo_default_on)}.")
        loaded.append((name, metrics))
    summary = seed_summary(loaded)
    return (head + "\n".join(body) + "\n\n" + ("\n".join(summary) + "\n\n" if summary else "")
            + "\n".join(recipes) + "\n")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="name=VERSION_DIR (a trained version with metrics.json)")
    parser.add_argument("--write-docs", action="store_true", help=f"replace '{HEADING}' in docs/quality.md")
    parser.add_argument("--echo-default-on", action="append", default=[], metavar="NAME",
                        help="a run trained when training.contrastiveLoss.echoNegatives defaulted to true")
    parser.add_argument("--note", default="", help="a paragraph written under the table")
    args = parser.parse_args(argv)
    runs = [(r.split("=", 1)[0], Path(r.split("=", 1)[1])) for r in args.runs]
    text = markdown(runs, frozenset(args.echo_default_on)) + (f"\n{args.note}\n" if args.note else "")
    print(text)
    if args.write_docs:
        replace_section(QUALITY, HEADING, text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
