from __future__ import annotations

import pytest

from models_spec_helpers import tiny_spec


@pytest.fixture(scope="session")
def corpus_texts():
    from rejoinder.datasets.chatterbot import load_corpus

    pairs, _ = load_corpus()
    return [t for p in pairs for t in (*p.context, p.response)]


@pytest.fixture(scope="session")
def bpe_400(tmp_path_factory, corpus_texts):
    from rejoinder.text.from_spec import tokenizer_for_spec

    return tokenizer_for_spec(tiny_spec("retrieval"), tmp_path_factory.mktemp("tok"), corpus_texts)
