from __future__ import annotations

import pytest

from rejoinder.datasets import chatterbot


@pytest.fixture(scope="session")
def chatterbot_corpus():
    return chatterbot.load_corpus()


@pytest.fixture(scope="session")
def bpe_tokenizer(tmp_path_factory, chatterbot_corpus):
    from rejoinder.text.bpe import BpeTokenizer

    pairs, candidates = chatterbot_corpus
    texts = [t for p in pairs for t in (*p.context, p.response)]
    out = tmp_path_factory.mktemp("bpe")
    return BpeTokenizer.train(texts, vocab_size=1000, model_path=out / "bpe.model")
