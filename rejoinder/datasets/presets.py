"""`data.preset`: a corpus shaped into one task's records (each task module picks its builder).

    retrieval       pairs and the candidate pool (every distinct reply of the corpus)
    pretraining     chatterbot: its pairs' utterances; chitchat: every training message, the
                    one-sender conversations' included
    reranking       proxy reactions: hard negatives of data.negativesFrom (training/hard_negatives.py),
                    else random ones; or users' reactions (data.reactionsFrom), alone or mixed
    session-scoring chitchat: people's ratings of their sessions (records.SessionRule); chatterbot,
                    which has none: proxy shuffled sessions

A corpus with a fixed split (chitchat) gives train, dev (`held`) and test; one without
(chatterbot) gives records that data_prep hash-splits by data.evalFraction, as before.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Optional

from ..text.formats import Candidate, Record, RecordKind, Session, in_eval_split
from . import chatterbot, proxy, records, user_reactions
from .base import Corpus, Counts, Split

log = logging.getLogger(__name__)


@dataclass
class PresetData:
    kind: RecordKind
    records: list[Record]
    held: Optional[list[Record]] = None  # already split (None: hash-split later by evalFraction)
    test: Optional[list[Record]] = None  # a corpus's fixed test split: reported, never trained or chosen on
    candidates: list[Candidate] = field(default_factory=list)
    labels: Optional[dict[str, Any]] = None  # proxy.labels_note or the session rule, for data.json
    provenance: Optional[dict[str, Any]] = None  # the corpus's, with what was kept and skipped
    # Reranking with negativesFrom: the retrieval model's top-k list per held-out context
    # ("eval", "test"), what Respond reorders (training/hard_negatives.py RankedList JSON).
    lists: Optional[dict[str, list[dict[str, Any]]]] = None


def corpus_named(name: str) -> Corpus:
    from . import corpus

    return corpus(name)


def _fixed_splits(corpus: Corpus) -> dict[Split, list[Any]]:
    out: dict[Split, list[Any]] = {s: [] for s in Split}
    for conversation in corpus.conversations():
        out[corpus.split_of(conversation)].append(conversation)
    return out


def _provenance(corpus: Corpus, counts: Counts, splits: Optional[dict[Split, list[Any]]] = None) -> dict[str, Any]:
    out = {**corpus.provenance(), "import": corpus.counts().to_json(), "records": counts.to_json()}
    if splits is not None:
        out["conversations"] = {s.value: len(v) for s, v in splits.items()}
    return out


def pairs_preset(spec: Any) -> PresetData:
    """Retrieval: (context, reply) pairs and the candidate pool of every distinct reply."""
    name = spec.data.preset.value
    if name == "chatterbot":
        pairs, candidates = chatterbot.load_corpus()
        return PresetData(RecordKind.pairs, list(pairs), candidates=candidates,
                          provenance=chatterbot.Chatterbot().provenance())
    return corpus_pairs(corpus_named(name), spec.data.max_context_turns)


def corpus_pairs(corpus: Corpus, context_turns: int) -> PresetData:
    """A fixed-split corpus's pairs by split, contexts cut to their newest `context_turns` turns,
    and the pool of every distinct reply (all splits: held-out replies must be rankable)."""
    splits = _fixed_splits(corpus)
    counts = Counts()
    by_split = {s: [p for c in convs for p in records.conversation_pairs(c, context_turns, corpus.source, counts)]
                for s, convs in splits.items()}
    pool = records.candidates_of([*by_split[Split.train], *by_split[Split.dev], *by_split[Split.test]],
                                 corpus.name[:2], corpus.source)
    counts.keep("candidates", len(pool))
    for s in (Split.dev, Split.test):
        counts.keep(f"{s.value} pairs whose reply repeats a context turn", records.echo_rows(by_split[s]))
    return PresetData(RecordKind.pairs, list(by_split[Split.train]), list(by_split[Split.dev]),
                      list(by_split[Split.test]), candidates=pool, provenance=_provenance(corpus, counts, splits))


def messages_preset(spec: Any) -> PresetData:
    """Pretraining: chatterbot's pairs (their utterances); a fixed-split corpus's messages."""
    name = spec.data.preset.value
    if name == "chatterbot":
        preset = pairs_preset(spec)
        preset.candidates = []
        return preset
    return corpus_messages(corpus_named(name))


def corpus_messages(corpus: Corpus) -> PresetData:
    """Every distinct message of the train split as a text record (dev held out; test never read)."""
    counts = Counts()

    def texts(split: Split) -> list[Record]:
        distinct = dict.fromkeys(" ".join(m.split()[:records.MAX_TURN_WORDS]) for m in corpus.messages(split))
        counts.keep(f"{split.value} messages", len(distinct))
        return [Candidate(records.text_id("m", t), t, corpus.source) for t in distinct if t]

    train, dev = texts(Split.train), texts(Split.dev)
    return PresetData(RecordKind.candidates, train, dev, provenance=_provenance(corpus, counts))


def _pairs_for_random_negatives(spec: Any) -> tuple[list, Optional[list], Optional[list]]:
    preset = pairs_preset(spec)
    return preset.records, preset.held, preset.test


def reactions_preset(spec: Any, resolve_dialog_model: Optional[Callable[[str], Path]]) -> PresetData:
    """Reranking: proxy upvotes -- hard negatives mined with data.negativesFrom, else random ones."""
    seed, data = spec.training.seed, spec.data
    if data.negatives_from:
        from ..training import hard_negatives

        if resolve_dialog_model is None:
            raise ValueError("data.negativesFrom needs the artifacts of other DialogModels")
        source = hard_negatives.RetrievalSource.from_export(resolve_dialog_model(data.negatives_from))
        mined = hard_negatives.mine(source, data.negatives_per_context, seed, train_contexts=data.negatives_contexts)
        return PresetData(RecordKind.reactions, list(mined.train), list(mined.held), mined.test,
                          labels={**proxy.labels_note(proxy.HARD_NEGATIVES, data.negatives_from),
                                  "retrievalVersion": source.version, "topK": source.top_k,
                                  "negativesPerContext": data.negatives_per_context,
                                  "trainingContexts": min(len(source.train), data.negatives_contexts)},
                          lists={split: [r.to_json() for r in rows] for split, rows in mined.lists.items()})
    train, held, test = _pairs_for_random_negatives(spec)
    reactions = lambda pairs, s: list(proxy.random_negative_reactions(pairs, s)) if pairs is not None else None  # noqa: E731
    return PresetData(RecordKind.reactions, reactions(train, seed), reactions(held, seed + 1), reactions(test, seed + 2),
                      labels=proxy.labels_note(proxy.RANDOM_NEGATIVES))


def with_user_reactions(spec: Any, directory: Path, preset: Optional[PresetData], now: datetime) -> PresetData:
    """Reranking from data.reactionsFrom: the users' reactions, mixed with the preset's proxy
    reactions when there is one (datasets/user_reactions.py states the rules)."""
    data = spec.data
    source = data.reactions_from
    compacted = user_reactions.load(source, directory, now)
    salt = f"{spec.training.seed}"
    user_train, user_held = user_reactions.split(compacted.reactions, data.eval_fraction, salt)
    test = None
    if preset is None:
        train, held, dropped, proxy_counts = user_train, user_held, 0, None
    else:
        proxy_train, proxy_held = (preset.records, preset.held) if preset.held is not None else \
            user_reactions.split(preset.records, data.eval_fraction, salt)  # type: ignore[arg-type]
        train, held, dropped = user_reactions.mix(user_train, user_held, proxy_train, proxy_held)  # type: ignore[arg-type]
        proxy_counts = (len(train) - len(user_train), len(held) - len(user_held))
        test = preset.test
    labels = user_reactions.labels(source, compacted, (len(user_train), len(user_held)), proxy_counts,
                                   preset.labels if preset is not None else None, dropped)
    log.info("users' reactions from %s: %d train, %d held out (upvote ratio %.3f)%s", directory, len(user_train),
             len(user_held), compacted.summary.overall.upvote_ratio,
             f"; mixed with {proxy_counts[0]} + {proxy_counts[1]} proxy reactions ({dropped} dropped for the split)"
             if proxy_counts else "")
    return PresetData(RecordKind.reactions, list(train), list(held), test, labels=labels)


def sessions_preset(spec: Any) -> PresetData:
    """Session scoring: people's ratings where the corpus has them, else proxy shuffled sessions."""
    seed, data = spec.training.seed, spec.data
    name = data.preset.value
    if name == "chatterbot":
        convs = list(chatterbot.conversations())
        flags = [in_eval_split(Session(tuple(c), True), data.eval_fraction, f"{seed}") for c in convs]
        train_convs = [c for c, f in zip(convs, flags) if not f]
        held_convs = [c for c, f in zip(convs, flags) if f]  # whole conversations: no held-out shuffle of a training dialog
        return PresetData(RecordKind.sessions, list(proxy.shuffled_sessions(train_convs, seed)),
                          list(proxy.shuffled_sessions(held_convs, seed + 1)),
                          labels=proxy.labels_note(proxy.SHUFFLED_SESSIONS),
                          provenance=chatterbot.Chatterbot().provenance())
    return corpus_sessions(corpus_named(name))


def corpus_sessions(corpus: Corpus) -> PresetData:
    """Rated sessions by split, labelled by the rule chosen on the training sessions."""
    splits = _fixed_splits(corpus)
    rule = records.SessionRule.from_train(splits[Split.train])
    counts = Counts()
    by_split = {s: records.rated_sessions(convs, rule, corpus.source, counts) for s, convs in splits.items()}
    labels = {"proxy": False, "source": f"{corpus.name}:ratings", "description": rule.describe(),
              "threshold": rule.threshold}
    return PresetData(RecordKind.sessions, list(by_split[Split.train]), list(by_split[Split.dev]),
                      list(by_split[Split.test]), labels=labels, provenance=_provenance(corpus, counts, splits))
