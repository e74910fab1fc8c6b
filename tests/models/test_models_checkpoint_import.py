from __future__ import annotations

import numpy as np
import pytest

from rejoinder.models.bert import BertEncoder
from rejoinder.models.build import build_model
from rejoinder.models.checkpoints import CheckpointMismatch, hf_to_tf1, load_google_checkpoint
from rejoinder.models.config import BertConfig, ModelConfig
from rejoinder.text.features import SequenceConfig
from rejoinder.text.tokenizer import SpecialIds

from models_bert_reference import bert_forward, mlm_logits, random_tf1_weights, write_tf1_checkpoint

SPECIAL = SpecialIds(pad=0, unk=1, cls=2, sep=3, mask=4)


@pytest.fixture(scope="module")
def tf1_checkpoint(tmp_path_factory):
    """A 4-layer, 512-position BERT in Google's TF1 names, plus optimizer slots and global_step."""
    rng = np.random.default_rng(0)
    weights = random_tf1_weights(rng, layers=4, positions=512)
    extra = {
        "global_step": np.array(1000, dtype=np.int64),
        "bert/encoder/layer_0/attention/self/query/kernel/adam_m": np.zeros((16, 16), np.float32),
        "cls/seq_relationship/output_bias": np.zeros((2,), np.float32),
    }
    prefix = str(tmp_path_factory.mktemp("google") / "bert_model.ckpt")
    write_tf1_checkpoint(prefix, weights, extra)
    return prefix, weights


def _ids(rng, n=3, length=10):
    ids = rng.integers(5, 40, size=(n, length)).astype(np.int32)
    ids[:, 0] = SPECIAL.cls
    ids[1, 6:] = SPECIAL.pad  # padding must be masked out of attention
    segments = np.zeros_like(ids)
    segments[:, 5:] = 1
    return ids, segments


def test_tf1_import_truncates_layers_and_positions_and_matches_numpy(tf1_checkpoint):
    prefix, weights = tf1_checkpoint
    config = BertConfig(vocab_size=40, hidden=16, layers=2, heads=2, intermediate=32, max_position=80, dropout=0.1)
    encoder = BertEncoder(config)
    ids, segments = _ids(np.random.default_rng(1), length=80)
    encoder(ids, segments)  # create variables
    report = load_google_checkpoint(encoder, prefix)

    assert report.missing == []
    assert "bert/encoder/layer_1/output/dense/kernel" in report.used
    assert report.skipped["bert/encoder/layer_3/attention/self/key/bias"] == "layer 3 beyond the model's 2 layers"
    assert report.skipped["global_step"] == "optimizer state"
    assert report.skipped["bert/encoder/layer_0/attention/self/query/kernel/adam_m"] == "optimizer state"
    assert report.skipped["bert/pooler/dense/kernel"].startswith("pooler not used")
    assert report.skipped["cls/predictions/output_bias"].startswith("masked-LM head not used")
    assert len(report.used) == 5 + 2 * 16

    got = np.asarray(encoder(ids, segments, training=False))
    want = bert_forward(weights, ids, segments, layers=2, heads=2)
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=0)
    # Keras kept exactly the first 80 positions of the 512.
    np.testing.assert_array_equal(
        np.asarray(encoder.embeddings.position_embeddings.embeddings), weights["bert/embeddings/position_embeddings"][:80])


def test_tf1_import_into_masked_lm_with_tied_embeddings(tf1_checkpoint):
    prefix, weights = tf1_checkpoint
    bert = BertConfig(vocab_size=40, hidden=16, layers=4, heads=2, intermediate=32, max_position=12, pooling="cls")
    model = build_model(ModelConfig("pretraining", "bert", 40, SPECIAL, SequenceConfig(12, 8, 4), bert=bert))
    report = load_google_checkpoint(model.encoder, prefix, model.mlm)
    assert report.missing == []
    assert "cls/predictions/output_bias" in report.used and "bert/pooler/dense/kernel" in report.used

    ids, segments = _ids(np.random.default_rng(2), length=12)
    positions = np.array([[1, 3], [2, 4], [5, 7]], dtype=np.int32)
    got = np.asarray(model({"input_ids": ids, "segment_ids": segments, "masked_positions": positions}))
    sequence = bert_forward(weights, ids, segments, layers=4, heads=2)
    want = mlm_logits(weights, np.take_along_axis(sequence, positions[:, :, None], axis=1))
    np.testing.assert_allclose(got, want, atol=1e-4, rtol=1e-5)
    # The tie: the MLM head owns no vocab × hidden matrix of its own.
    assert [tuple(v.shape) for v in model.mlm.weights if v.shape and v.shape[0] == 40] == [(40,)]


def test_tf1_import_shape_mismatch_is_a_clear_error(tf1_checkpoint):
    prefix, _ = tf1_checkpoint
    encoder = BertEncoder(BertConfig(vocab_size=40, hidden=32, layers=2, heads=2, intermediate=32, max_position=10))
    encoder(np.ones((1, 4), np.int32))
    with pytest.raises(CheckpointMismatch, match="has shape .* but the model needs"):
        load_google_checkpoint(encoder, prefix)
    with pytest.raises(FileNotFoundError, match="no TF1 checkpoint"):
        load_google_checkpoint(encoder, prefix + "-missing")


def test_hugging_face_names_map_to_tf1():
    assert hf_to_tf1("bert.encoder.layer.11.attention.self.query.weight") == (
        "bert/encoder/layer_11/attention/self/query/kernel", True)
    assert hf_to_tf1("encoder.layer.0.output.LayerNorm.weight") == ("bert/encoder/layer_0/output/LayerNorm/gamma", False)
    assert hf_to_tf1("embeddings.word_embeddings.weight") == ("bert/embeddings/word_embeddings", False)
    assert hf_to_tf1("pooler.dense.bias") == ("bert/pooler/dense/bias", False)
    assert hf_to_tf1("cls.predictions.bias") == ("cls/predictions/output_bias", False)
    assert hf_to_tf1("embeddings.position_ids") is None


def _tf1_to_hf(name: str) -> str:
    """The inverse naming (a test-side, hand-written map): TF1 → Hugging Face BertForPreTraining."""
    if name == "cls/predictions/output_bias":
        return "cls.predictions.bias"
    n = name.replace("/", ".")
    n = n.replace("encoder.layer_", "encoder.layer.")
    for tf1, hf in ((".gamma", ".weight"), (".beta", ".bias"), (".kernel", ".weight")):
        if n.endswith(tf1):
            return n[: -len(tf1)] + hf
    return n + ".weight" if n.endswith("_embeddings") else n


def test_hugging_face_safetensors_match_numpy(tmp_path):
    from safetensors.numpy import save_file

    from rejoinder.models.checkpoints import load_hugging_face

    weights = random_tf1_weights(np.random.default_rng(3), layers=3, positions=64)
    tensors = {_tf1_to_hf(k): (v.T.copy() if k.endswith("/kernel") else v) for k, v in weights.items()}
    tensors["bert.embeddings.position_ids"] = np.arange(64, dtype=np.int64)[None]
    save_file(tensors, str(tmp_path / "model.safetensors"))
    (tmp_path / "config.json").write_text('{"num_attention_heads": 2}')

    bert = BertConfig(vocab_size=40, hidden=16, layers=3, heads=2, intermediate=32, max_position=20, pooling="cls")
    model = build_model(ModelConfig("pretraining", "bert", 40, SPECIAL, SequenceConfig(20, 12, 8), bert=bert))
    report = load_hugging_face(model.encoder, tmp_path, model.mlm)
    assert report.missing == []
    assert "bert.encoder.layer.2.attention.self.query.weight" in report.used
    assert "bert.embeddings.position_ids" in report.skipped

    ids, segments = _ids(np.random.default_rng(4), length=20)
    got = np.asarray(model({"input_ids": ids, "segment_ids": segments}))
    want = mlm_logits(weights, bert_forward(weights, ids, segments, layers=3, heads=2))
    np.testing.assert_allclose(got, want, atol=1e-4, rtol=1e-5)

    wrong_heads = BertEncoder(BertConfig(vocab_size=40, hidden=16, layers=3, heads=4, intermediate=32, max_position=20))
    wrong_heads(ids)
    with pytest.raises(CheckpointMismatch, match="2 attention heads but model.bert.heads is 4"):
        load_hugging_face(wrong_heads, tmp_path)
