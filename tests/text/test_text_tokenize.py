from __future__ import annotations

import numpy as np
import pytest

from rejoinder.text import context
from rejoinder.text.encoding import pack_pairs, pack_single, unpad
from rejoinder.text.features import Featurizer, SequenceConfig
from rejoinder.text.formats import DialogPair, Reaction, Session
from rejoinder.text.tokenizer import SpecialIds, load_tokenizer

SPECIAL = SpecialIds(pad=0, unk=1, cls=2, sep=3, mask=4)


def test_context_keeps_most_recent_turns():
    turns = ["one", "two  words", "three\nlines", "four", "five"]
    assert context.context_text(turns, max_turns=3) == "three lines ### four ### five"
    assert context.context_text(turns, separator="|", max_turns=2) == "four | five"
    assert context.session_text(["a", "b"]) == "a ### b"
    with pytest.raises(TypeError):
        context.context_text("not a list of turns")


def test_pack_single_truncates_left_or_right():
    ids = pack_single([[10, 11, 12, 13, 14], [20]], 5, SPECIAL, truncate="left")
    assert ids.dtype == np.int32 and ids.shape == (2, 5)
    assert ids.tolist() == [[2, 12, 13, 14, 3], [2, 20, 3, 0, 0]]
    assert unpad(ids, SPECIAL) == [[12, 13, 14], [20]]
    assert pack_single([[10, 11, 12, 13, 14]], 5, SPECIAL, truncate="right").tolist() == [[2, 10, 11, 12, 3]]


def test_pack_pairs_budgets_and_segments():
    ids, seg = pack_pairs([[10, 11, 12, 13]], [[20, 21, 22]], 4, 3, SPECIAL)
    # context part 4 = [CLS] 12 13 [SEP] (left-truncated), response part 3 = 20 21 [SEP]
    assert ids.tolist() == [[2, 12, 13, 3, 20, 21, 3]]
    assert seg.tolist() == [[0, 0, 0, 0, 1, 1, 1]]
    ids, seg = pack_pairs([[10]], [[20]], 4, 3, SPECIAL)
    assert ids.tolist() == [[2, 10, 3, 20, 3, 0, 0]] and seg.tolist() == [[0, 0, 0, 1, 1, 0, 0]]


def test_bpe_trained_on_chatterbot_encodes_it_and_round_trips(bpe_tokenizer, chatterbot_corpus, tmp_path):
    pairs, candidates = chatterbot_corpus
    assert len(pairs) > 1200 and len(candidates) > 1000
    tok = bpe_tokenizer
    assert tok.vocab_size == 1000 and tok.special.mask == 999
    texts = [c.text for c in candidates]
    encoded = tok.encode(texts)
    assert all(ids for ids in encoded)
    unk = sum(i == tok.special.unk for ids in encoded for i in ids)
    assert unk == 0  # trained on this corpus: every character is known
    for text, ids in zip(texts[:200], encoded[:200]):
        assert tok.decode(ids) == " ".join(text.split()).lower()
    # Saved and loaded, it encodes identically.
    again = load_tokenizer(tok.save(tmp_path / "tok"))
    assert again.encode(texts[:50]) == encoded[:50]
    assert again.special == tok.special


def _tiny_vocab(path):
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello", "world", "how", "are", "you", "?", ",",
             "fine", "thanks", "##s", "thank", "#"]
    path.write_text("\n".join(words) + "\n")
    return path


def test_wordpiece_round_trip_and_subwords(tmp_path):
    from rejoinder.text.wordpiece import WordPieceTokenizer

    tok = WordPieceTokenizer(_tiny_vocab(tmp_path / "vocab.txt"))
    assert tok.special == SpecialIds(pad=0, unk=1, cls=2, sep=3, mask=4)
    ids = tok.encode(["Hello world, how are you?", "thanks zebra"])
    assert ids[0] == [5, 6, 11, 7, 8, 9, 10]
    assert ids[1] == [13, 1]  # unknown word → [UNK]
    assert tok.tokens("thanks") == ["thanks"] and tok.encode(["thanks"]) == [[13]]
    assert tok.decode(ids[0]) == "hello world, how are you?"
    loaded = load_tokenizer(tok.save(tmp_path / "saved"))
    assert loaded.encode(["hello world"]) == [[5, 6]]


def test_wordpiece_rejects_vocab_without_specials(tmp_path):
    from rejoinder.text.wordpiece import WordPieceTokenizer

    (tmp_path / "v.txt").write_text("hello\nworld\n")
    with pytest.raises(ValueError, match=r"\[PAD\] \[UNK\] \[CLS\] \[SEP\] \[MASK\] missing"):
        WordPieceTokenizer(tmp_path / "v.txt")


def test_featurizer_task_arrays(bpe_tokenizer):
    f = Featurizer(bpe_tokenizer, SequenceConfig(max_seq_length=16, context_length=10, response_length=6))
    pairs = [DialogPair(("hi", "how are you doing today my friend?"), "great")]
    out = f.records("retrieval", "bert", pairs)
    assert out["context_ids"].shape == (1, 16) and out["response_ids"].shape == (1, 16)
    # the context was truncated from the left: its newest words survive
    assert bpe_tokenizer.decode(out["context_ids"][0]).endswith("my friend?")
    rr = f.records("reranking", "bert", [Reaction(("hi",), "hello", True), Reaction(("hi",), "bye", False)])
    assert rr["input_ids"].shape == (2, 16) and rr["label"].tolist() == [1.0, 0.0]
    assert set(f.records("reranking", "qa-lstm", [Reaction(("hi",), "x", True)])) == {"context_ids", "response_ids", "label"}
    ss = f.records("session-scoring", "bert", [Session(("a", "b"), True)])
    assert bpe_tokenizer.decode(ss["input_ids"][0]) == "a ### b"
    with pytest.raises(TypeError, match="needs Reaction records"):
        f.records("reranking", "bert", pairs)
