"""bench/quality/chitchat_retrieval.py's seed summary: the goals of the real-conversations issue
(mean of seeds, R@20 and MRR@20 as multiples of the start, every seed above its own start) read
from metrics.json blocks."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "quality" / "chitchat_retrieval.py"
spec = importlib.util.spec_from_file_location("chitchat_retrieval", SCRIPT)
table = importlib.util.module_from_spec(spec)
spec.loader.exec_module(table)


def block(model: float, start: float, low: float) -> dict[str, Any]:
    keys = ("recall@1", "recall@5", "recall@20", "mrr@20")
    return {"metrics": dict.fromkeys(keys, model), "baselines": {"init": dict.fromkeys(keys, start)},
            "gainIntervals": {k: [low, low + 0.01] for k in keys}}


def run(model: float, start: float, low: float) -> dict[str, Any]:
    return {**block(model, start, low), "test": block(model, start, low)}


def test_recipe_name_drops_only_the_seed():
    assert table.recipe_name("quickstart (lr 2e-5), seed 43") == "quickstart (lr 2e-5)"
    assert table.recipe_name("lr 1e-4 + echo negatives") == "lr 1e-4 + echo negatives"


def test_seeds_of_one_recipe_are_averaged_against_their_starts():
    lines = table.seed_summary([("qs, seed 1", run(0.12, 0.10, 0.001)), ("qs, seed 2", run(0.14, 0.10, 0.002)),
                                ("single", run(0.5, 0.1, 0.1))])
    rows = [line for line in lines if line.startswith("| qs |")]
    assert len(rows) == 2 and not any("single" in line for line in lines)  # one seed: no summary row
    cells = [c.strip() for c in rows[1].split("|")[1:-1]]
    assert cells[:3] == ["qs", "2", "test"]
    assert cells[4] == "0.1300 (0.1000)" and cells[6] == "1.30×" and cells[8:] == ["yes", "yes"]


def test_one_seed_inside_its_interval_fails_the_every_seed_goal():
    lines = table.seed_summary([("qs, seed 1", run(0.12, 0.10, 0.001)), ("qs, seed 2", run(0.11, 0.10, -0.001))])
    assert all(line.endswith("| no | no |") for line in lines if line.startswith("| qs |"))
