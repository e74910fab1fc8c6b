"""Dialog data formats (JSONL, one record per line; see docs/data.md) and a strict streaming reader.

Four kinds of record:

    pairs       {"context": ["turn", ...], "response": "..."}                  retrieval
    reactions   {"context": [...], "response": "...", "reaction": "upvote"}    reranking
    sessions    {"turns": ["...", ...], "feedback": "positive"}                session scoring
    candidates  {"id": "r-1", "text": "..."}                                   the index's responses

Every kind also accepts an optional "source" string (e.g. "chatterbot", "synthetic") saying
where the record came from. Unknown fields, missing fields and wrong types are errors: a bad
line raises `DataFormatError` naming the file, the line number and the reason. Only when the
caller passes `skip_invalid=True` are bad lines skipped, and then each one is logged and counted.
Blank lines hold no record and are ignored.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any, Iterable, Iterator, TypeVar, Union

from .. import atomic

log = logging.getLogger(__name__)


class RecordKind(str, Enum):
    pairs = "pairs"
    reactions = "reactions"
    sessions = "sessions"
    candidates = "candidates"


class DataFormatError(ValueError):
    """A record that does not match its format: where it is and why."""

    def __init__(self, path: Union[str, Path], line: int, reason: str):
        self.path = str(path)
        self.line = line
        self.reason = reason
        super().__init__(f"{self.path}:{line}: {reason}")


@dataclass(frozen=True)
class DialogPair:
    context: tuple[str, ...]
    response: str
    source: str | None = None


@dataclass(frozen=True)
class Reaction:
    context: tuple[str, ...]
    response: str
    upvote: bool
    source: str | None = None


@dataclass(frozen=True)
class Session:
    turns: tuple[str, ...]
    positive: bool
    source: str | None = None


@dataclass(frozen=True)
class Candidate:
    id: str
    text: str
    source: str | None = None


Record = Union[DialogPair, Reaction, Session, Candidate]
R = TypeVar("R", DialogPair, Reaction, Session, Candidate)

_REACTIONS = {"upvote": True, "downvote": False}
_FEEDBACK = {"positive": True, "negative": False}


# --- field checks (each raises ValueError with a reason a person can act on) ----------------------


def _text(obj: dict[str, Any], key: str) -> str:
    value = obj[key]
    if not isinstance(value, str):
        raise ValueError(f"field {key!r} must be a string, got {type(value).__name__}")
    if not value.strip():
        raise ValueError(f"field {key!r} must not be empty")
    return value


def _turns(obj: dict[str, Any], key: str) -> tuple[str, ...]:
    value = obj[key]
    if not isinstance(value, list) or not value:
        raise ValueError(f"field {key!r} must be a non-empty list of strings")
    for i, turn in enumerate(value):
        if not isinstance(turn, str) or not turn.strip():
            raise ValueError(f"field {key!r}[{i}] must be a non-empty string")
    return tuple(value)


def _choice(obj: dict[str, Any], key: str, choices: dict[str, bool]) -> bool:
    value = obj[key]
    if value not in choices:
        raise ValueError(f"field {key!r} must be one of {sorted(choices)}, got {value!r}")
    return choices[value]


def _source(obj: dict[str, Any]) -> str | None:
    return _text(obj, "source") if "source" in obj else None


_FIELDS: dict[RecordKind, tuple[set[str], set[str]]] = {  # required, optional
    RecordKind.pairs: ({"context", "response"}, {"source"}),
    RecordKind.reactions: ({"context", "response", "reaction"}, {"source"}),
    RecordKind.sessions: ({"turns", "feedback"}, {"source"}),
    RecordKind.candidates: ({"id", "text"}, {"source"}),
}


def parse_record(obj: Any, kind: RecordKind) -> Record:
    """One decoded JSON value → a record, or ValueError saying what is wrong with it."""
    if not isinstance(obj, dict):
        raise ValueError(f"expected a JSON object, got {type(obj).__name__}")
    required, optional = _FIELDS[kind]
    unknown = sorted(set(obj) - required - optional)
    if unknown:
        raise ValueError(f"unknown field(s) {unknown} for {kind.value} (allowed: {sorted(required | optional)})")
    missing = sorted(required - set(obj))
    if missing:
        raise ValueError(f"missing field(s) {missing} for {kind.value}")
    if kind is RecordKind.pairs:
        return DialogPair(_turns(obj, "context"), _text(obj, "response"), _source(obj))
    if kind is RecordKind.reactions:
        return Reaction(
            _turns(obj, "context"), _text(obj, "response"), _choice(obj, "reaction", _REACTIONS), _source(obj)
        )
    if kind is RecordKind.sessions:
        return Session(_turns(obj, "turns"), _choice(obj, "feedback", _FEEDBACK), _source(obj))
    return Candidate(_text(obj, "id"), _text(obj, "text"), _source(obj))


def record_to_json(record: Record) -> dict[str, Any]:
    """The wire form of a record (inverse of `parse_record`)."""
    if isinstance(record, DialogPair):
        out: dict[str, Any] = {"context": list(record.context), "response": record.response}
    elif isinstance(record, Reaction):
        out = {
            "context": list(record.context),
            "response": record.response,
            "reaction": "upvote" if record.upvote else "downvote",
        }
    elif isinstance(record, Session):
        out = {"turns": list(record.turns), "feedback": "positive" if record.positive else "negative"}
    elif isinstance(record, Candidate):
        out = {"id": record.id, "text": record.text}
    else:
        raise TypeError(f"not a record: {type(record).__name__}")
    if record.source is not None:
        out["source"] = record.source
    return out


def read_records(
    path: Union[str, Path],
    kind: RecordKind | str,
    *,
    skip_invalid: bool = False,
) -> Iterator[Record]:
    """Stream the records of a JSONL file, strictly.

    A bad line raises `DataFormatError(path, line, reason)`. With `skip_invalid=True` the line is
    logged as a warning and skipped instead, and a summary with the count is logged at the end.
    """
    kind = RecordKind(kind)
    path = Path(path)
    skipped = 0
    with path.open("rb") as f:
        for number, raw in enumerate(f, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                error = DataFormatError(path, number, f"not UTF-8 ({e.reason} at byte {e.start})")
            else:
                if not line.strip():
                    continue
                try:
                    yield parse_record(json.loads(line), kind)
                    continue
                except json.JSONDecodeError as e:
                    error = DataFormatError(path, number, f"invalid JSON: {e.msg} (column {e.colno})")
                except ValueError as e:
                    error = DataFormatError(path, number, str(e))
            if not skip_invalid:
                raise error
            skipped += 1
            log.warning("skipping %s", error)
    if skipped:
        log.warning("%s: skipped %d invalid line(s) because skip_invalid was set", path, skipped)


def write_records(path: Union[str, Path], records: Iterable[Record]) -> int:
    """Write records as JSONL atomically (readers never see half a file); returns the count."""
    lines = [json.dumps(record_to_json(r), ensure_ascii=False) for r in records]
    atomic.write_text(Path(path), "".join(line + "\n" for line in lines))
    return len(lines)


# --- deterministic train/eval split ---------------------------------------------------------------


def split_key(record: Record) -> Any:
    """What the split hashes. A dialog pair by its context alone: every reply the data gives to
    one context lands on the same side, so a held-out context is never one training taught
    another answer for (that answer would then be ranked first and count as a miss)."""
    if isinstance(record, DialogPair):
        return list(record.context)
    return record_to_json(record)


def in_eval_split(record: Record, fraction: float, salt: str = "") -> bool:
    """Whether a record is held out: a hash of its split_key, so the split is the same on every
    machine, every run and every rank, and does not depend on the order of the file."""
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"eval fraction must be in [0, 1), got {fraction}")
    key = salt + json.dumps(split_key(record), sort_keys=True, ensure_ascii=False)
    bucket = int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:8], "big") / 2**64
    return bucket < fraction


def split_records(records: Iterable[R], fraction: float, salt: str = "") -> tuple[list[R], list[R]]:
    """(train, eval) with about `fraction` of the records held out, deterministically."""
    train: list[R] = []
    held: list[R] = []
    for record in records:
        (held if in_eval_split(record, fraction, salt) else train).append(record)
    return train, held
