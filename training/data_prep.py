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
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

from rejoinder import atomic
from rejoinder.tasks import task_module
from rejoinder.text import chatterbot
from rejoinder.text.formats import (
    Candidate,
    Record,
    RecordKind,
    Session,
    in_eval_split,
    read_records,
    split_records,
    write_records,
)

from . import hard_negatives, proxy_presets, user_reactions

log = logging.getLogger(__name__)

DATA_MANIFEST = "data.json"

@dataclass(frozen=True)
class PreparedData:
    directory: Path
    kind: RecordKind
    counts: dict[str, int]
    labels: Optional[dict[str, Any]] = None  # set when the labels are proxies (proxy_presets)

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


# --- the chatterbot preset, shaped for each task ---------------------------------------------------


@dataclass
class PresetData:
    kind: RecordKind
    records: list[Record]
    held: Optional[list[Record]] = None  # already split (None: hash-split later)
    candidates: list[Candidate] = field(default_factory=list)
    labels: Optional[dict[str, Any]] = None  # proxy_presets.labels_note, for data.json


def _split_conversations(fraction: float, salt: str) -> tuple[list[list[str]], list[list[str]]]:
    """Conversations split as wholes, so no held-out negative is a shuffle of a training dialog."""
    convs = list(chatterbot.conversations())
    flags = [in_eval_split(Session(tuple(c), True), fraction, salt) for c in convs]
    return [c for c, f in zip(convs, flags) if not f], [c for c, f in zip(convs, flags) if f]


# Each task module (rejoinder.tasks, `TaskDefinition.preset`) picks one of these.


def chatterbot_pairs_preset() -> PresetData:
    """Retrieval and pretraining: the corpus's (context, response) pairs and its candidates."""
    pairs, candidates = chatterbot.load_corpus()
    return PresetData(RecordKind.pairs, list(pairs), candidates=candidates)


def reactions_preset(spec: Any, resolve_dialog_model: Optional[Callable[[str], Path]]) -> PresetData:
    """Reranking: proxy upvotes -- hard negatives mined with data.negativesFrom, else random ones."""
    seed, data = spec.training.seed, spec.data
    if data.negatives_from:
        if resolve_dialog_model is None:
            raise ValueError("data.negativesFrom needs the artifacts of other DialogModels")
        source = hard_negatives.RetrievalSource.from_export(resolve_dialog_model(data.negatives_from))
        train, held = hard_negatives.mine(source, data.negatives_per_context, seed)
        return PresetData(RecordKind.reactions, list(train), list(held),
                          labels={**proxy_presets.labels_note(proxy_presets.HARD_NEGATIVES, data.negatives_from),
                                  "retrievalVersion": source.version, "topK": source.top_k,
                                  "negativesPerContext": data.negatives_per_context})
    pairs, _ = chatterbot.load_corpus()
    return PresetData(RecordKind.reactions, list(proxy_presets.random_negative_reactions(pairs, seed)),
                      labels=proxy_presets.labels_note(proxy_presets.RANDOM_NEGATIVES))


def with_user_reactions(spec: Any, directory: Path, proxy: Optional[PresetData], now: datetime) -> PresetData:
    """Reranking from data.reactionsFrom: the users' reactions, mixed with the preset's proxy
    reactions when there is one (training/user_reactions.py states the rules)."""
    data = spec.data
    source = data.reactions_from
    compacted = user_reactions.load(source, directory, now)
    salt = f"{spec.training.seed}"
    user_train, user_held = user_reactions.split(compacted.reactions, data.eval_fraction, salt)
    if proxy is None:
        train, held, dropped, proxy_counts = user_train, user_held, 0, None
    else:
        proxy_train, proxy_held = (proxy.records, proxy.held) if proxy.held is not None else \
            user_reactions.split(proxy.records, data.eval_fraction, salt)  # type: ignore[arg-type]
        train, held, dropped = user_reactions.mix(user_train, user_held, proxy_train, proxy_held)  # type: ignore[arg-type]
        proxy_counts = (len(train) - len(user_train), len(held) - len(user_held))
    labels = user_reactions.labels(source, compacted, (len(user_train), len(user_held)), proxy_counts,
                                   proxy.labels if proxy is not None else None, dropped)
    log.info("users' reactions from %s: %d train, %d held out (upvote ratio %.3f)%s", directory, len(user_train),
             len(user_held), compacted.summary.overall.upvote_ratio,
             f"; mixed with {proxy_counts[0]} + {proxy_counts[1]} proxy reactions ({dropped} dropped for the split)"
             if proxy_counts else "")
    return PresetData(RecordKind.reactions, list(train), list(held), labels=labels)


def sessions_preset(spec: Any) -> PresetData:
    """Session scoring: proxy good/bad sessions (whole conversations vs. shuffled ones)."""
    seed, data = spec.training.seed, spec.data
    train_convs, held_convs = _split_conversations(data.eval_fraction, f"{seed}")
    return PresetData(RecordKind.sessions, list(proxy_presets.shuffled_sessions(train_convs, seed)),
                      list(proxy_presets.shuffled_sessions(held_convs, seed + 1)),
                      labels=proxy_presets.labels_note(proxy_presets.SHUFFLED_SESSIONS))


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
    labels: Optional[dict[str, Any]] = None
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
        kind, records, held, candidates, labels = preset.kind, preset.records, preset.held, preset.candidates, preset.labels
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
        candidates = _with_eval_responses(candidates, records, held)
    counts = {"train": len(records), "eval": len(held), "candidates": len(candidates)}
    directory.mkdir(parents=True, exist_ok=True)
    write_records(directory / "train.jsonl", records)
    write_records(directory / "eval.jsonl", held)
    if candidates:
        write_records(directory / "candidates.jsonl", candidates)
    manifest: dict[str, Any] = {"kind": kind.value, "counts": counts, "source": source}
    if labels is not None:
        manifest["labels"] = labels
    atomic.write_json(directory / DATA_MANIFEST, manifest)
    log.info("prepared %s data from %s: %d train, %d eval, %d candidates",
             kind.value, source, counts["train"], counts["eval"], counts["candidates"])
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
