"""bench/quality/chitchat_retrieval.py: what it keeps of a version's metrics.json, and its seed
summary, the goals of the real-conversations issue (mean of seeds, R@20 and MRR@20 as multiples
of the start, every seed above its own start)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "quality" / "chitchat_retrieval.py"
spec = importlib.util.spec_from_file_location("chitchat_retrieval", SCRIPT)
table = importlib.util.module_from_spec(spec)
spec.loader.exec_module(table)


KEYS = ("recall@1", "recall@5", "recall@20", "mrr@20")


def block(model: float, start: float, low: float) -> dict[str, Any]:
    """An evaluation block as metrics.json holds it."""
    return {"metrics": dict.fromkeys(KEYS, model), "baselines": {"init": dict.fromkeys(KEYS, start), "bm25": dict.fromkeys(KEYS, 0.01)},
            "gainOverStart": dict.fromkeys(KEYS, model - start), "gainIntervals": {k: [low, low + 0.01] for k in KEYS},
            "echoTop1": {"model": 0.9, "init": 0.89}}


def metrics_json(model: float, start: float, low: float) -> dict[str, Any]:
    return {**block(model, start, low), "test": block(model, start, low), "engine": "onnxruntime int8 (gated)",
            "training": {"steps": 160, "globalBatch": 32, "seconds": 366.4, "examplesPerSec": 16.16}}


SPEC = {"training": {"learningRate": 2e-5}}


def run(model: float, start: float, low: float) -> dict[str, Any]:
    return table.entry(metrics_json(model, start, low), SPEC)


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


def test_an_entry_keeps_what_the_table_shows():
    got = table.entry(metrics_json(0.12, 0.10, 0.001), SPEC)
    assert got["recipe"] == ("160 steps × 32 pairs, lr 2e-05, echo negatives off, 366 s training at 16.16 pairs/s; "
                             "served onnxruntime int8")
    row = table.rows("qs, seed 1", got)[1]
    assert row.startswith("| qs, seed 1 | test | 0.1200 (0.1000; 0.0100) |")
    assert "+0.0200 [+0.0010, +0.0110]" in row and row.endswith("| 0.90 (0.89) |")


def test_runs_added_to_the_record_render_after_their_files_are_gone(tmp_path):
    version = tmp_path / "v-1"
    version.mkdir()
    (version / "metrics.json").write_text(json.dumps(metrics_json(0.12, 0.10, 0.001)))
    (version / "spec.yaml").write_text("spec:\n  training: {learningRate: 2.0e-5}\n")
    record = tmp_path / "record.json"
    table.main([f"qs, seed 1={version}", "--record", str(record)])
    (version / "metrics.json").unlink()
    kept = json.loads(record.read_text())
    assert list(kept["runs"]) == ["qs, seed 1"] and "| qs, seed 1 | dev |" in table.markdown(kept)


def test_a_time_to_serving_that_never_served_is_refused(tmp_path):
    result = tmp_path / "result.json"
    result.write_text(json.dumps({"phase": "Failed", "seconds": 12.0, "spec": "examples/quickstart.yaml",
                                  "loadavgBefore": [0.1], "loadavgAfter": [1.0]}))
    with pytest.raises(SystemExit, match="not Serving"):
        table.add_time_to_serving({"runs": {}}, result)
