"""Stage 1 of `train`: turn the spec's data (a preset or JSONL files) into validated, normalised
JSONL under versions/<v>/data/ -- train.jsonl, eval.jsonl (dev: what choices are made on),
test.jsonl when the corpus has a fixed test split (reported, never trained or chosen on) and,
for retrieval, candidates.jsonl -- plus data.json, written last, which says what is there and
where it came from (the corpus's provenance and what its import kept and skipped). A re-run (resume) finds data.json and
reuses the files, so every restart trains on exactly the same split.

Bad input fails here with the file, line and reason (rejoinder.text.formats), before any
training time is spent. Nothing is written to the user's files.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

from rejoinder import atomic
from rejoinder.datasets import chatterbot
from rejoinder.datasets.presets import with_user_reactions
from rejoinder.tasks import task_module
from rejoinder.text.formats import Candidate, Record, RecordKind, read_records, split_records, write_records

log = logging.getLogger(__name__)

DATA_MANIFEST = "data.json"

@dataclass(frozen=True)
class PreparedData:
    directory: Path
    kind: RecordKind
    counts: dict[str, int]
    labels: Optional[dict[str, Any]] = None  # set when the labels are proxies (datasets/proxy.py) or rated

    @property
    def train_file(self) -> Path:
        return self.directory / "train.jsonl"

    @property
    def eval_file(self) -> Path:
        return self.directory / "eval.jsonl"

    @property
    def test_file(self) -> Optional[Path]:
        path = self.directory / "test.jsonl"
        return path if path.is_file() else None

    @property
    def candidates_file(self) -> Optional[Path]:
        path = self.directory / "candidates.jsonl"
        return path if path.is_file() else None

    def train(self) -> list[Record]:
        return list(read_records(self.train_file, self.kind))

    def eval(self) -> list[Record]:
        return list(read_records(self.eval_file, self.kind))

    def test(self) -> Optional[list[Record]]:
        """The corpus's fixed test split, or None: reported beside eval (dev), never chosen on."""
        path = self.test_file
        return list(read_records(path, self.kind)) if path else None

    def lists(self, split: str) -> Optional[list[dict[str, Any]]]:
        """Reranking with negativesFrom: the retrieval model's top-k list per held-out context of
        `split` ("eval" or "test"), as RankedList JSON; None when there are none."""
        path = self.directory / f"lists-{split}.jsonl"
        if not path.is_file():
            return None
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]

    def candidates(self) -> list[Candidate]:
        path = self.candidates_file
        return list(read_records(path, RecordKind.candidates)) if path else []  # type: ignore[arg-type]


def load_prepared(directory: Path) -> Optional[PreparedData]:
    manifest = directory / DATA_MANIFEST
    if not manifest.is_file():
        return None
    info = json.loads(manifest.read_text(encoding="utf-8"))
    return PreparedData(directory, RecordKind(info["kind"]), dict(info["counts"]), info.get("labels"))


def detect_kind(path: Path) -> RecordKind:
    """The record kind of a JSONL file from its first record's fields (pretraining accepts any)."""
    with Path(path).open(encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            try:
                keys = set(json.loads(line))
            except (ValueError, TypeError) as exc:
                raise ValueError(f"{path}:1: cannot tell the record kind: {exc}") from None
            if "turns" in keys:
                return RecordKind.sessions
            if "reaction" in keys:
                return RecordKind.reactions
            if "context" in keys:
                return RecordKind.pairs
            if "text" in keys:
                return RecordKind.candidates
            raise ValueError(f"{path}: first record has fields {sorted(keys)}: not pairs, reactions, sessions or candidates")
    raise ValueError(f"{path} holds no records")


# --- the stage ---------------------------------------------------------------------------------


def prepare_data(spec: Any, directory: Path,
                 resolve_dialog_model: Optional[Callable[[str], Path]] = None,
                 reactions_of: Optional[Callable[[str], Path]] = None,
                 now: Optional[datetime] = None) -> PreparedData:
    """Write train/eval(/candidates) JSONL and data.json under `directory`; reuse them if done.

    `resolve_dialog_model(name)` gives another DialogModel's newest export (data.negativesFrom);
    `reactions_of(name)` its reactions directory (data.reactionsFrom, checked against `now`)."""
    done = load_prepared(directory)
    if done is not None:
        log.info("data already prepared in %s: %s", directory, done.counts)
        return done
    definition = task_module(spec.task)
    data = spec.data
    candidates: list[Candidate] = []
    held: list[Record] | None = None
    test: list[Record] | None = None
    labels: Optional[dict[str, Any]] = None
    provenance: Optional[dict[str, Any]] = None
    lists: Optional[dict[str, list[dict[str, Any]]]] = None
    if data.preset is not None or data.reactions_from is not None:
        preset = definition.preset(spec, resolve_dialog_model) if data.preset is not None else None
        source = f"preset {data.preset.value}" if data.preset is not None else ""
        if data.reactions_from is not None:
            if reactions_of is None:
                raise ValueError("data.reactionsFrom needs the reaction logs of other DialogModels")
            preset = with_user_reactions(spec, reactions_of(data.reactions_from.dialog_model), preset,
                                         now or datetime.now(timezone.utc))
            source = " + ".join(filter(None, [f"reactions of {data.reactions_from.dialog_model}", source]))
        assert preset is not None
        kind, records, held, test = preset.kind, preset.records, preset.held, preset.test
        candidates, labels, provenance, lists = preset.candidates, preset.labels, preset.provenance, preset.lists
    else:
        train_path = Path(data.train)
        if not train_path.is_file():
            raise FileNotFoundError(f"spec.data.train: {train_path} does not exist")
        kind = definition.record_kind or detect_kind(train_path)
        records = list(read_records(train_path, kind))
        source = str(train_path)
        if data.eval:
            eval_path = Path(data.eval)
            if not eval_path.is_file():
                raise FileNotFoundError(f"spec.data.eval: {eval_path} does not exist")
            held = list(read_records(eval_path, kind))
        if data.candidates:
            cand_path = Path(data.candidates)
            if not cand_path.is_file():
                raise FileNotFoundError(f"spec.data.candidates: {cand_path} does not exist")
            candidates = list(read_records(cand_path, RecordKind.candidates))  # type: ignore[arg-type]
    if held is None:
        # a hash split: the same records are held out on every machine and every restart
        records, held = split_records(records, data.eval_fraction, salt=f"{spec.training.seed}")
    if not records:
        raise ValueError(f"{source}: no training records")
    if not held:
        raise ValueError(f"{source}: the evaluation split is empty (add data or raise data.evalFraction)")
    if definition.candidate_pool:
        candidates = _with_eval_responses(candidates, records, [*held, *(test or [])])
    counts = {"train": len(records), "eval": len(held), "candidates": len(candidates)}
    if test is not None:
        counts["test"] = len(test)
    directory.mkdir(parents=True, exist_ok=True)
    write_records(directory / "train.jsonl", records)
    write_records(directory / "eval.jsonl", held)
    if test is not None:
        write_records(directory / "test.jsonl", test)
    if candidates:
        write_records(directory / "candidates.jsonl", candidates)
    for split, rows in (lists or {}).items():
        atomic.write_text(directory / f"lists-{split}.jsonl", "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
        counts[f"lists-{split}"] = len(rows)
    manifest: dict[str, Any] = {"kind": kind.value, "counts": counts, "source": source,
                                "splits": {"train": "train.jsonl", "eval": "eval.jsonl (dev: choices are made on it)",
                                           **({"test": "test.jsonl (reported; never trained or chosen on)"}
                                              if test is not None else {})}}
    if labels is not None:
        manifest["labels"] = labels
    if provenance is not None:
        manifest["provenance"] = provenance
    atomic.write_json(directory / DATA_MANIFEST, manifest)
    log.info("prepared %s data from %s: %s", kind.value, source, ", ".join(f"{v} {k}" for k, v in counts.items()))
    return PreparedData(directory, kind, counts, labels)


def _with_eval_responses(candidates: list[Candidate], train: Sequence[Record], held: Sequence[Record]) -> list[Candidate]:
    """The candidate pool must contain every held-out true response, or recall is capped below
    1 by construction; missing ones (and, without a candidates file, all responses) are added."""
    by_text = {c.text: c for c in candidates}
    added = 0
    for record in [*train, *held] if not candidates else held:
        text = record.response  # type: ignore[union-attr]
        if text not in by_text:
            by_text[text] = Candidate(chatterbot.candidate_id(text).replace("cb-", "r-"), text, "data")
            added += 1
    if candidates and added:
        log.info("added %d held-out responses missing from the candidates file to the pool", added)
    return list(by_text.values())
