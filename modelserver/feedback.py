"""The Feedback RPC's logic: check the request, find what was answered, record it once.

    by id:      response_id → the remembered Answer (NOT_FOUND when unknown or expired)
    by text:    context + response → this server's current versions (no lookup needed)
    then:       the same reaction to the same answer already recorded → duplicate, not logged again;
                else append to the reaction log and wait for its fsync; count after the ack.

A reaction to the same answer with the *opposite* reaction is a new record (the user changed
their mind); compaction keeps the latest per answer (docs/feedback.md).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable

from rejoinder.feedback.records import ReactionKind, ReactionRecord, ServedBy
from rejoinder.feedback.segments import safe_instance

from . import validation
from .answers import Answer, AnswerMemory, ExpiringMap, instance_of
from .metrics import ServerMetrics
from .protos import dialog_service_pb2 as pb
from .reaction_log import ReactionLog

log = logging.getLogger(__name__)

MAX_ID_CHARS = 256
MAX_SESSION_CHARS = 256
REACTIONS = {pb.UPVOTE: ReactionKind.upvote, pb.DOWNVOTE: ReactionKind.downvote}


class UnknownAnswer(LookupError):
    """The response id is not (or no longer) remembered here (NOT_FOUND)."""


@dataclass(frozen=True)
class Outcome:
    record: ReactionRecord
    duplicate: bool


def reaction_of(value: int) -> ReactionKind:
    try:
        return REACTIONS[value]
    except KeyError:
        name = pb.Reaction.Name(value) if value in pb.Reaction.values() else str(value)
        raise validation.InvalidRequest(f"reaction {name} is not a reaction: send UPVOTE or DOWNVOTE") from None


def _bounded(value: str, field: str, limit: int) -> str:
    if len(value) > limit:
        raise validation.InvalidRequest(f"{field} has {len(value)} characters; at most {limit}")
    return value


class FeedbackDesk:
    """One per server: the answers it remembers, what it already recorded, and its log."""

    def __init__(
        self, answers: AnswerMemory, reaction_log: ReactionLog, metrics: ServerMetrics, instance: str,
        now: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
    ) -> None:
        self.answers = answers
        self.log = reaction_log
        self.metrics = metrics
        self.instance = instance
        self.now = now
        # What was recorded, for as long as answers are remembered: a repeat within that is a duplicate.
        self._recorded = ExpiringMap(answers.capacity, answers.ttl_s, answers.clock)
        self._pending: dict[tuple[str, ...], asyncio.Future] = {}

    def record_for(self, request: pb.FeedbackRequest, limits: validation.Limits, current: ServedBy) -> ReactionRecord:
        """The record a request asks for; InvalidRequest / UnknownAnswer when there is none."""
        reaction = reaction_of(request.reaction)
        session = _bounded(request.session_id, "session_id", MAX_SESSION_CHARS)
        response_id = _bounded(request.response_id, "response_id", MAX_ID_CHARS)
        if response_id:
            if request.context or request.response:
                raise validation.InvalidRequest(
                    "send either response_id or context + response, not both (an id names the answer already)"
                )
            answer = self._recall(response_id)
        elif request.context or request.response:
            if not request.response.strip():
                raise validation.InvalidRequest("response is empty: send the text the user reacted to")
            turns = validation.context_turns(list(request.context), limits)
            text = request.response[: limits.max_turn_chars]
            answer = Answer(tuple(turns), text, "", current)
        else:
            raise validation.InvalidRequest(
                "send the response_id of a Retrieve/Respond answer, or the context and the response text"
            )
        return ReactionRecord(
            response_id=response_id, reaction=reaction, context=answer.context, response=answer.text,
            served_by=answer.served_by, time=self.now(), candidate_id=answer.candidate_id, session_id=session,
        )

    def _recall(self, response_id: str) -> Answer:
        answer = self.answers.recall(response_id)
        if answer is not None:
            return answer
        fallback = "send the context and the response text instead of the id"
        named = instance_of(response_id)
        if named and named != safe_instance(self.instance):
            raise UnknownAnswer(
                f"response_id {response_id!r} was answered by server {named!r}, not this one "
                f"({safe_instance(self.instance)!r}; replicas do not share answers): {fallback}"
            )
        raise UnknownAnswer(
            f"response_id {response_id!r} is unknown or expired here (answers are remembered for "
            f"{self.answers.ttl_s:.0f} s, the last {self.answers.capacity}): {fallback}"
        )

    async def record(self, record: ReactionRecord) -> Outcome:
        """Log `record` unless this reaction to this answer is recorded already (or being recorded)."""
        key = record.dedupe_key
        while True:
            if key in self._recorded:
                self.metrics.feedback_duplicates.labels(record.reaction.value).inc()
                log.info("duplicate %s of %s: already recorded, counted once", record.reaction.value,
                         record.response_id or "a text-form answer")
                return Outcome(record, duplicate=True)
            pending = self._pending.get(key)
            if pending is None:
                break
            # The same reaction is being written right now: its outcome decides ours. Awaiting a
            # future that is already done does not yield, and its done-callback (which moves the
            # key to _recorded) runs only when the loop gets control, so settle it here rather
            # than loop: looping spun the event loop for ever (seen as a hung CI run).
            try:
                await asyncio.shield(pending)
            except (Exception, asyncio.CancelledError):
                if not pending.done():
                    raise  # our own RPC was cancelled while it waited
                if self._pending.get(key) is pending:
                    del self._pending[key]  # it failed: try again ourselves
                continue
            self.metrics.feedback_duplicates.labels(record.reaction.value).inc()
            log.info("duplicate %s of %s: recorded by a concurrent call, counted once", record.reaction.value,
                     record.response_id or "a text-form answer")
            return Outcome(record, duplicate=True)
        written = asyncio.wrap_future(self.log.append(record))  # LogFull / LogUnavailable raise here
        self._pending[key] = written
        written.add_done_callback(lambda done: self._written(key, record, done))
        await asyncio.shield(written)  # a cancelled RPC does not un-write what the log already took
        return Outcome(record, duplicate=False)

    def _written(self, key: tuple[str, ...], record: ReactionRecord, done: asyncio.Future) -> None:
        self._pending.pop(key, None)
        if done.cancelled() or done.exception() is not None:
            return
        self._recorded.put(key, True)
        self.metrics.feedback.labels(record.served_by.version, record.reaction.value).inc()


__all__ = ["FeedbackDesk", "Outcome", "UnknownAnswer", "reaction_of"]
