"""Stage 1 of `train`: turn the spec's data (a preset or JSONL files) into validated, normalised
JSONL under versions/<v>/data/ -- train.jsonl, eval.jsonl and, for retrieval, candidates.jsonl --
plus data.json, written last, which says what is there. A re-run (resume) finds data.json and
reuses the files, so every restart trains on exactly the same split.

Bad input fails here with the file, line and reason (rejoinder.text.formats), before any
training time is spent. Nothing is written to the user's files.
"""

from __future__ import annotations

import json
import logging
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence

from rejoinder import atomic
from rejoinder.text import chatterbot
from rejoinder.text.formats import (
    Candidate,
    DialogPair,
    Reaction,
    Record,
    RecordKind,
    Session,
    read_records,
    split_records,
    write_records,
)

log = logging.getLogger(__name__)

DATA_MANIFEST = "data.json"

# Which record kind each task trains on (pretraining reads the utterances of any kind).
TASK_KINDS: dict[str, RecordKind] = {
    "retrieval": RecordKind.pairs,
    "reranking": RecordKind.reactions,
    "session-scoring": RecordKind.sessions,
}


@dataclass(frozen=True)
class PreparedData:
    directory: Path
    kind: RecordKind
    counts: dict[str, int]

    @property
    def train_file(self) -> Path:
        return self.directory / "train.jsonl"

    @property
    def eval_file(self) -> Path:
        return self.directory / "eval.jsonl"

    @property
    def candidates_file(self) -> Optional[Path]:
        path = self.directory / "candidates.jsonl"
        return path if path.is_file() else None

    def train(self) -> list[Record]:
        return list(read_records(self.train_file, self.kind))

    def eval(self) -> list[Record]:
        return list(read_records(self.eval_file, self.kind))

    def candidates(self) -> list[Candidate]:
        path = self.candidates_file
        return list(read_records(path, RecordKind.candidates)) if path else []  # type: ignore[arg-type]


def load_prepared(directory: Path) -> Optional[PreparedData]:
    manifest = directory / DATA_MANIFEST
    if not manifest.is_file():
        return None
    info = json.loads(manifest.read_text(encoding="utf-8"))
    return PreparedData(directory, RecordKind(info["kind"]), dict(info["counts"]))


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


# --- the chatterbot preset, shaped for each task ---------------------------------------------------


def chatterbot_reactions(pairs: Sequence[DialogPair], seed: int) -> list[Reaction]:
    """Upvote = the corpus's own reply; downvote = a reply drawn from another conversation turn.
    A stand-in for real user reactions, so reranking can be trained on the preset."""
    rng = random.Random(seed)
    responses = [p.response for p in pairs]
    out = []
    for pair in pairs:
        out.append(Reaction(pair.context, pair.response, True, chatterbot.SOURCE))
        other = pair.response
        while other == pair.response and len(set(responses)) > 1:
            other = rng.choice(responses)
        out.append(Reaction(pair.context, other, False, chatterbot.SOURCE))
    return out


def chatterbot_sessions(seed: int) -> list[Session]:
    """Positive = a corpus conversation; negative = the same conversation with its replies
    swapped for replies drawn from elsewhere in the corpus (an incoherent session)."""
    rng = random.Random(seed)
    conversations = list(chatterbot.conversations())
    replies = [t for conv in conversations for t in conv[1:]]
    out = []
    for conv in conversations:
        out.append(Session(tuple(conv), True, chatterbot.SOURCE))
        swapped = [t if i % 2 == 0 else rng.choice(replies) for i, t in enumerate(conv)]
        if swapped != conv:
            out.append(Session(tuple(swapped), False, chatterbot.SOURCE))
    return out


def _preset_records(task: str, seed: int) -> tuple[RecordKind, list[Record], list[Candidate]]:
    pairs, candidates = chatterbot.load_corpus()
    if task in ("retrieval", "pretraining"):
        return RecordKind.pairs, list(pairs), candidates
    if task == "reranking":
        return RecordKind.reactions, list(chatterbot_reactions(pairs, seed)), []
    return RecordKind.sessions, list(chatterbot_sessions(seed)), []


# --- the stage ---------------------------------------------------------------------------------


def prepare_data(spec: Any, directory: Path) -> PreparedData:
    """Write train/eval(/candidates) JSONL and data.json under `directory`; reuse them if done."""
    done = load_prepared(directory)
    if done is not None:
        log.info("data already prepared in %s: %s", directory, done.counts)
        return done
    task = spec.task.value
    data = spec.data
    candidates: list[Candidate] = []
    held: list[Record] | None = None
    if data.preset is not None:
        kind, records, candidates = _preset_records(task, spec.training.seed)
        source = f"preset {data.preset.value}"
    else:
        train_path = Path(data.train)
        if not train_path.is_file():
            raise FileNotFoundError(f"spec.data.train: {train_path} does not exist")
        kind = TASK_KINDS.get(task) or detect_kind(train_path)
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
    if task == "retrieval":
        candidates = _with_eval_responses(candidates, records, held)
    counts = {"train": len(records), "eval": len(held), "candidates": len(candidates)}
    directory.mkdir(parents=True, exist_ok=True)
    write_records(directory / "train.jsonl", records)
    write_records(directory / "eval.jsonl", held)
    if candidates:
        write_records(directory / "candidates.jsonl", candidates)
    atomic.write_json(directory / DATA_MANIFEST, {"kind": kind.value, "counts": counts, "source": source})
    log.info("prepared %s data from %s: %d train, %d eval, %d candidates",
             kind.value, source, counts["train"], counts["eval"], counts["candidates"])
    return PreparedData(directory, kind, counts)


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
