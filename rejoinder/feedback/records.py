"""One user reaction as the reaction log stores it: a JSON object per line (docs/feedback.md).

The record carries everything retraining and the canary need without looking anything up
later: the context the user saw answered, the response, and which model, index and reranker
versions produced it. Encoding is strict both ways: a record that does not parse is an error
naming the field, never a silently half-filled record.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from enum import StrEnum
from typing import Any

from ..constants import RFC3339

RECORD_SCHEMA = 1  # bump on an incompatible change; readers refuse versions they do not know


class ReactionKind(StrEnum):
    upvote = "upvote"
    downvote = "downvote"


class RecordError(ValueError):
    """A line of a reaction segment that is not a reaction record; the message says why."""


@dataclass(frozen=True)
class ServedBy:
    """Which versions answered: the canary compares ratios per `model_version`."""

    model_version: str
    index_version: str = ""
    reranker_version: str = ""
    instance: str = ""  # the server process (pod name in a cluster)

    @property
    def version(self) -> str:
        """The served version a canary compares: the model's, plus the reranker's when one reranks
        (a retrained reranker is a new served version of the same retrieval model)."""
        return served_version(self.model_version, self.reranker_version)


def served_version(model_version: str, reranker_version: str = "") -> str:
    """The `version` label of rejoinder_feedback_total and the unit a canary promotes."""
    return f"{model_version}+{reranker_version}" if reranker_version else model_version


@dataclass(frozen=True)
class ReactionRecord:
    response_id: str  # what Respond/Retrieve returned; "" when the client sent context and text
    reaction: ReactionKind
    context: tuple[str, ...]  # the turns as the model used them (after truncation), oldest first
    response: str
    served_by: ServedBy
    time: datetime  # when the server acknowledged the reaction, UTC
    candidate_id: str = ""  # the index's id of the response, when it came from the index
    session_id: str = ""

    @property
    def upvote(self) -> bool:
        return self.reaction is ReactionKind.upvote

    @property
    def dedupe_key(self) -> tuple[str, ...]:
        """Two records with this key are the same reaction told twice: counted once."""
        if self.response_id:
            return ("id", self.response_id, self.reaction.value)
        return ("text", self.session_id, *self.context, "\x1f", self.response, self.reaction.value)

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": RECORD_SCHEMA,
            "responseId": self.response_id,
            "reaction": self.reaction.value,
            "context": list(self.context),
            "response": self.response,
            "candidateId": self.candidate_id,
            "sessionId": self.session_id,
            "modelVersion": self.served_by.model_version,
            "indexVersion": self.served_by.index_version,
            "rerankerVersion": self.served_by.reranker_version,
            "instance": self.served_by.instance,
            "time": self.time.astimezone(timezone.utc).strftime(RFC3339),
        }

    def to_line(self) -> bytes:
        """The record as one JSONL line, newline included (ASCII-safe: no raw newlines inside)."""
        return (json.dumps(self.to_json(), ensure_ascii=True, separators=(",", ":")) + "\n").encode("ascii")

    @classmethod
    def from_json(cls, obj: Any) -> "ReactionRecord":
        if not isinstance(obj, dict):
            raise RecordError("a reaction record is a JSON object")
        schema = obj.get("schema")
        if schema != RECORD_SCHEMA:
            raise RecordError(f"schema {schema!r} is not {RECORD_SCHEMA} (written by another rejoinder version?)")
        try:
            reaction = ReactionKind(_string(obj, "reaction"))
        except ValueError as exc:
            raise RecordError(f"reaction must be one of {[k.value for k in ReactionKind]}") from exc
        context = obj.get("context")
        if not isinstance(context, list) or not context or not all(isinstance(t, str) for t in context):
            raise RecordError("context must be a non-empty list of strings")
        try:
            when = datetime.strptime(_string(obj, "time"), RFC3339).replace(tzinfo=timezone.utc)
        except ValueError as exc:
            raise RecordError(f"time is not RFC 3339 UTC ({RFC3339})") from exc
        return cls(
            response_id=_string(obj, "responseId"),
            reaction=reaction,
            context=tuple(context),
            response=_string(obj, "response", required=True),
            served_by=ServedBy(
                model_version=_string(obj, "modelVersion", required=True),
                index_version=_string(obj, "indexVersion"),
                reranker_version=_string(obj, "rerankerVersion"),
                instance=_string(obj, "instance"),
            ),
            time=when,
            candidate_id=_string(obj, "candidateId"),
            session_id=_string(obj, "sessionId"),
        )

    @classmethod
    def from_line(cls, line: bytes | str) -> "ReactionRecord":
        try:
            obj = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise RecordError(f"not JSON: {exc}") from exc
        return cls.from_json(obj)


def _string(obj: dict[str, Any], key: str, required: bool = False) -> str:
    value = obj.get(key, "")
    if not isinstance(value, str):
        raise RecordError(f"{key} must be a string")
    if required and not value:
        raise RecordError(f"{key} is missing or empty")
    return value
