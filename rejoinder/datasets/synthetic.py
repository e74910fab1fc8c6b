"""A synthetic dialog generator for scale tests (100k+ responses). Every record it makes carries
`"source": "synthetic"`: it is not human dialog and says so.

Responses are built from templates and word lists with a seeded RNG, so runs are reproducible.
Each synthetic pair's context mentions the topic its response answers, so a retrieval model has
something learnable, and ANN recall is not measured on structureless text.
"""

from __future__ import annotations

import random
from typing import Iterator

from ..text.formats import Candidate, DialogPair, Reaction, Session

SOURCE = "synthetic"

_TOPICS = [
    "music", "movies", "books", "weather", "travel", "food", "sports", "work", "school", "pets",
    "games", "science", "art", "family", "friends", "health", "sleep", "coffee", "cooking", "space",
    "history", "the ocean", "mountains", "gardening", "photography", "cars", "trains", "poetry",
    "dancing", "painting", "chess", "running", "swimming", "yoga", "birds", "robots", "weekends",
]
_FEELINGS = ["love", "enjoy", "like", "miss", "think about", "am curious about", "dream about", "worry about"]
_OPENERS = ["Honestly,", "You know,", "Well,", "I think", "To be fair,", "Funny you ask,", "Oh,", "Lately"]
_QUESTIONS = [
    "What do you think about {t}?", "Do you like {t}?", "Tell me something about {t}.",
    "How do you feel about {t}?", "Have you ever tried {t}?", "Why do people care about {t}?",
]
_ANSWERS = [
    "{o} I {f} {t} {n} times a week.", "{o} {t} makes me happy, number {n}.",
    "{o} I {f} {t}, it reminds me of day {n}.", "{o} my favourite thing about {t} is idea {n}.",
    "{o} I could talk about {t} for {n} hours.", "{o} {t} is on my list, item {n}.",
]


def _answer(rng: random.Random, topic: str) -> str:
    return rng.choice(_ANSWERS).format(
        o=rng.choice(_OPENERS), f=rng.choice(_FEELINGS), t=topic, n=rng.randrange(1, 10_000)
    )


def candidates(count: int, seed: int = 0) -> Iterator[Candidate]:
    rng = random.Random(seed)
    for i in range(count):
        yield Candidate(f"syn-{i:07d}", _answer(rng, rng.choice(_TOPICS)), SOURCE)


def pairs(count: int, seed: int = 0) -> Iterator[DialogPair]:
    rng = random.Random(seed + 1)
    for _ in range(count):
        topic = rng.choice(_TOPICS)
        context = ["Hi!", rng.choice(_QUESTIONS).format(t=topic)][-rng.randint(1, 2) :]
        yield DialogPair(tuple(context), _answer(rng, topic), SOURCE)


def reactions(count: int, seed: int = 0) -> Iterator[Reaction]:
    """Upvoted when the response is on the context's topic, downvoted when it is off-topic."""
    rng = random.Random(seed + 2)
    for _ in range(count):
        topic = rng.choice(_TOPICS)
        upvote = rng.random() < 0.5
        answer_topic = topic if upvote else rng.choice([t for t in _TOPICS if t != topic])
        yield Reaction((rng.choice(_QUESTIONS).format(t=topic),), _answer(rng, answer_topic), upvote, SOURCE)


def sessions(count: int, seed: int = 0) -> Iterator[Session]:
    """Positive sessions stay on one topic; negative ones answer off-topic."""
    rng = random.Random(seed + 3)
    for _ in range(count):
        positive = rng.random() < 0.5
        turns: list[str] = []
        for _ in range(rng.randint(2, 4)):
            topic = rng.choice(_TOPICS)
            answer_topic = topic if positive else rng.choice([t for t in _TOPICS if t != topic])
            turns += [rng.choice(_QUESTIONS).format(t=topic), _answer(rng, answer_topic)]
        yield Session(tuple(turns), positive, SOURCE)
