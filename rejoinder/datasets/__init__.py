"""Dialog corpora and the records rejoinder trains on, in one place.

    base.py            Corpus (conversations, split, provenance), Split, Conversation
    chatterbot.py      chatterbot-corpus English dialogs: tiny, for demos and fast tests
    chitchat.py        the BYU Chit-Chat corpus: ~131k real (context, reply) pairs, rated sessions
    synthetic.py       template dialogs for scale tests (labelled synthetic)
    records.py         conversations → pairs, candidates, rated sessions (the shared bounds)
    presets.py         `data.preset`: a corpus shaped into each task's records
    proxy.py           proxy labels (reactions, sessions) built from dialog text, labelled proxy
    user_reactions.py  users' reactions from a served model's reaction log (data.reactionsFrom)

A new corpus is one new file with a `Corpus` subclass, named in CORPORA and in the API's
DataPreset enum.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .base import Corpus

# name → "module:class" (imported when asked for: the CLI and the operator import this cheaply)
CORPORA = {
    "chatterbot": "chatterbot:Chatterbot",
    "chitchat": "chitchat:ChitChat",
}


def corpus(name: str) -> "Corpus":
    if name not in CORPORA:
        raise ValueError(f"unknown corpus {name!r} (known: {', '.join(sorted(CORPORA))})")
    module, cls = CORPORA[name].split(":")
    return getattr(import_module(f"{__name__}.{module}"), cls)()
