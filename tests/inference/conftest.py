from __future__ import annotations

import sys
from pathlib import Path

import pytest

# the tiny specs the model tests use
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "models"))


@pytest.fixture(scope="session")
def chatterbot_pairs():
    from rejoinder.datasets.chatterbot import load_corpus

    pairs, _ = load_corpus()
    return pairs


@pytest.fixture(scope="session")
def corpus_texts(chatterbot_pairs):
    return [t for p in chatterbot_pairs for t in (*p.context, p.response)]


@pytest.fixture(scope="session")
def bpe_400(tmp_path_factory, corpus_texts):
    from models_spec_helpers import tiny_spec
    from rejoinder.text.from_spec import tokenizer_for_spec

    return tokenizer_for_spec(tiny_spec("retrieval"), tmp_path_factory.mktemp("tok"), corpus_texts)


@pytest.fixture(scope="session")
def held_out(chatterbot_pairs):
    """Real text: the last 300 chatterbot pairs (contexts of up to 2 turns and their replies)."""
    from rejoinder.inference.export import HeldOut

    tail = chatterbot_pairs[-300:]
    return HeldOut([list(p.context)[-2:] for p in tail], [p.response for p in tail])
