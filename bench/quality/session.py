"""Session scoring on real text, with proxy labels: chatterbot conversations (positive) against
the same conversations with their turns shuffled or their replies taken from other dialogs
(negative), split by whole conversation. QA-LSTM baseline vs BERT from MiniLM, one run."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Mapping

from . import runs

log = logging.getLogger(__name__)

HEADING = "## Session scoring"

_DATA = {"preset": "chatterbot", "maxContextTurns": 8}
_TRAINING = {"gpusPerWorker": 0, "steps": 150, "batchSizePerGpu": 32, "warmupSteps": 15, "checkpointInterval": 50}
SEQUENCE = 64

SCORERS: dict[str, dict[str, Any]] = {
    "QA-LSTM + MLP": {
        "task": "session-scoring",
        "model": {"architecture": "qa-lstm", "qaLstm": {"embeddingDim": 128, "hiddenUnits": 128, "mlpUnits": 256},
                  "bert": {"maxSeqLength": SEQUENCE}},
        "tokenizer": {"kind": "bpe", "vocabSize": 4000},
        "data": _DATA,
        "training": {**_TRAINING, "learningRate": 1e-3},
    },
    "BERT (MiniLM, 3 layers)": {
        "task": "session-scoring",
        "model": {"architecture": "bert", "init": runs.MINILM,
                  "bert": {"layers": 3, "hidden": 384, "heads": 12, "intermediate": 1536, "maxSeqLength": SEQUENCE,
                           "pooling": "mean"}},
        "tokenizer": {"kind": "wordpiece"},
        "data": _DATA,
        "training": {**_TRAINING, "learningRate": 5e-5},
    },
}


def _name(label: str) -> str:
    return "session-" + ("qa-lstm" if label.startswith("QA") else "bert")


def measure(work: Path) -> dict[str, Any]:
    artifacts = work / "artifacts"
    results: dict[str, Any] = {}
    for label, spec in SCORERS.items():
        name = _name(label)
        log.info("training session scorer %s (%s)", name, label)
        report = runs.train(runs.dialog_model(name, spec, artifacts), artifacts)
        results[label] = {
            "metrics": report["metrics"], "baselines": report.get("baselines", {}), "eval": report["eval"],
            "labels": report.get("labels"), "trainSeconds": report["training"]["seconds"],
            "parameters": runs.parameters(runs.export_dir(artifacts, name)),
        }
    return results


def markdown(results: Mapping[str, Any]) -> str:
    first = next(iter(results.values()))
    lines = [
        "`python bench/bench_quality.py --section session` — chatterbot, one run. **Proxy session feedback, not "
        "user feedback**: positive = a corpus conversation; negative = the same conversation with its turns "
        "shuffled or its replies taken from other dialogs; held out by whole conversation "
        f"({first['eval']['examples']} held-out sessions, {first['eval']['positive']} positive). Sequence "
        f"{SEQUENCE} tokens, the last {_DATA['maxContextTurns']} turns.",
        "",
        "| session scorer | labels | accuracy | ROC-AUC | majority accuracy | parameters | train s |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for label, row in results.items():
        m = row["metrics"]
        lines.append(f"| {label} | proxy | {m['accuracy']:.3f} | {m['roc_auc']:.3f} | "
                     f"{row['baselines'].get('majority', {}).get('accuracy', float('nan')):.3f} | "
                     f"{row['parameters']:,} | {row['trainSeconds']:.0f} |")
    return "\n".join(lines)


def add_arguments(parser: Any) -> None:
    runs.add_work_argument(parser, "session")


def run(args: Any) -> str:
    """The section's markdown body (bench/bench_quality.py --section session)."""
    return runs.run_section(args.session_work, "session", measure, markdown)
