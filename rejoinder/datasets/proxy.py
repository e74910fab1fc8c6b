"""Proxy labels for the tasks that learn from user feedback, built from dialog text alone.

The chatterbot preset has conversations but no user reactions and no session feedback. These
builders make stand-ins so reranking and session scoring can be trained and measured on real
text. None of them is a user's judgement: every record's `source` starts with `proxy:` and
data.json, metrics.json and the printed metrics table carry `labels` saying what they are.

    random negatives   upvote = the corpus reply; downvote = a reply drawn from elsewhere
    hard negatives     upvote = the corpus reply; downvote = a wrong top candidate of a retrieval
                       model (what Respond actually has to reorder)
    shuffled sessions  positive = a corpus conversation; negative = the same conversation with
                       its turns shuffled, or its replies swapped with other dialogs' replies

Pure functions: the retrieval model's ranking comes in as lists of texts (see hard_negatives.py).
"""

from __future__ import annotations

import random
from collections import defaultdict
from typing import Sequence

from rejoinder.text.formats import DialogPair, Reaction, Session

PROXY_PREFIX = "proxy:"
RANDOM_NEGATIVES = "proxy:random-negatives"
HARD_NEGATIVES = "proxy:retrieval-hard-negatives"
SHUFFLED_SESSIONS = "proxy:shuffled-sessions"


def labels_note(source: str, negatives_from: str | None = None) -> dict[str, object]:
    """What data.json and metrics.json say about proxy labels (the one wording of it)."""
    what = {
        RANDOM_NEGATIVES: "proxy reactions, not user feedback: upvote = the corpus reply, "
        "downvote = a reply drawn at random from the corpus",
        HARD_NEGATIVES: "proxy reactions, not user feedback: upvote = the corpus reply, downvote = a wrong "
        f"top candidate of retrieval model {negatives_from} (training: each reply with the contexts it is wrongly "
        "ranked highest for; evaluation: each held-out context with its wrong top candidates)",
        SHUFFLED_SESSIONS: "proxy session feedback, not user feedback: positive = a corpus conversation, "
        "negative = the same conversation with its turns shuffled or its replies taken from other dialogs",
    }[source]
    note: dict[str, object] = {"proxy": True, "source": source, "description": what}
    if negatives_from is not None:
        note["negativesFrom"] = negatives_from
    return note


def random_negative_reactions(pairs: Sequence[DialogPair], seed: int) -> list[Reaction]:
    """One upvote (the corpus reply) and one downvote (a reply drawn at random) per pair."""
    rng = random.Random(seed)
    responses = [p.response for p in pairs]
    out = []
    for pair in pairs:
        out.append(Reaction(pair.context, pair.response, True, RANDOM_NEGATIVES))
        other = pair.response
        while other == pair.response and len(set(responses)) > 1:
            other = rng.choice(responses)
        out.append(Reaction(pair.context, other, False, RANDOM_NEGATIVES))
    return out


def replies_by_context(pairs: Sequence[DialogPair]) -> dict[tuple[str, ...], set[str]]:
    """Every reply the data gives each context. The corpus asks some questions more than once
    with different answers; none of those answers is a wrong one for that context."""
    known: dict[tuple[str, ...], set[str]] = defaultdict(set)
    for pair in pairs:
        known[pair.context].add(pair.response)
    return known


def hard_negative_reactions(
    pairs: Sequence[DialogPair],
    ranked: Sequence[Sequence[str]],
    per_context: int,
    known: dict[tuple[str, ...], set[str]] | None = None,
    never: frozenset[str] = frozenset(),
) -> list[Reaction]:
    """Per pair: an upvote for its reply, and downvotes for the `per_context` highest-ranked
    candidates (`ranked[i]`, best first, for `pairs[i]`) that are not a known reply to it nor in
    `never` (the held-out replies, for training data: see hard_negatives.mine)."""
    if len(ranked) != len(pairs):
        raise ValueError(f"{len(pairs)} pairs but {len(ranked)} rankings")
    known = known if known is not None else replies_by_context(pairs)
    out = []
    for pair, texts in zip(pairs, ranked):
        out.append(Reaction(pair.context, pair.response, True, HARD_NEGATIVES))
        right = known.get(pair.context, set()) | {pair.response} | never
        wrong = [t for t in texts if t not in right][:per_context]
        out.extend(Reaction(pair.context, t, False, HARD_NEGATIVES) for t in wrong)
    return out


def reply_balanced_reactions(
    pairs: Sequence[DialogPair],
    ranked: Sequence[Sequence[str]],
    per_reply: int,
    known: dict[tuple[str, ...], set[str]] | None = None,
    never: frozenset[str] = frozenset(),
    seed: int = 0,
) -> list[Reaction]:
    """Training reactions in which a reply's text alone says nothing about the label.

    Per pair (c, r): an upvote, and `per_reply` downvotes of r itself with the contexts the
    retrieval model wrongly ranks r highest for (`ranked`, as in hard_negative_reactions); where
    r is a top wrong candidate for fewer contexts, other contexts drawn at random fill in. So
    every reply is upvoted once and downvoted `per_reply` times per pair it answers. Mined per
    context instead, a reply's label follows how often retrieval confuses it: a reranker then
    learns "replies seen as upvotes win", which on held-out contexts (whose replies were never
    seen) is inverted -- measured: held-out AUC 0.25-0.32 for the QA-LSTM reranker.
    """
    if len(ranked) != len(pairs):
        raise ValueError(f"{len(pairs)} pairs but {len(ranked)} rankings")
    known = known if known is not None else replies_by_context(pairs)
    rng = random.Random(seed)
    confused: dict[str, list[tuple[int, tuple[str, ...]]]] = defaultdict(list)  # reply → (rank, context)
    contexts = list(dict.fromkeys(p.context for p in pairs))
    for pair, texts in zip(pairs, ranked):
        right = known.get(pair.context, set()) | {pair.response}
        for rank, text in enumerate(texts):
            if text not in right and text not in never:
                confused[text].append((rank, pair.context))
    out = []
    for pair in pairs:
        out.append(Reaction(pair.context, pair.response, True, HARD_NEGATIVES))
        wrong = [c for _, c in sorted(confused.get(pair.response, []), key=lambda rc: rc[0])]
        wrong = list(dict.fromkeys(wrong))[:per_reply]
        while len(wrong) < per_reply and len(contexts) > len(wrong) + 1:
            other = rng.choice(contexts)
            if pair.response not in known.get(other, set()) and other not in wrong:
                wrong.append(other)
        out.extend(Reaction(c, pair.response, False, HARD_NEGATIVES) for c in wrong)
    return out


def shuffled_sessions(conversations: Sequence[Sequence[str]], seed: int) -> list[Session]:
    """A positive session per conversation and, where one can be made, a negative: its turns
    shuffled (three turns or more, half the time) or else its replies swapped for replies drawn
    from other conversations. Both keep the real turns, so length and vocabulary give nothing away."""
    rng = random.Random(seed)
    replies = [(i, t) for i, conv in enumerate(conversations) for t in conv[1:]]
    out = []
    for index, conv in enumerate(conversations):
        turns = list(conv)
        out.append(Session(tuple(turns), True, SHUFFLED_SESSIONS))
        negative = list(turns)
        if len(turns) >= 3 and rng.random() < 0.5:
            while negative == turns and len(set(turns)) > 1:
                rng.shuffle(negative)
        else:
            for i in range(1, len(turns), 2):
                source, reply = rng.choice(replies)
                while source == index and len(replies) > len(conv):
                    source, reply = rng.choice(replies)
                negative[i] = reply
        if negative != turns:
            out.append(Session(tuple(negative), False, SHUFFLED_SESSIONS))
    return out
