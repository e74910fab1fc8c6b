"""The int8 gate: its arithmetic, and a broken quantization failing it at export."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from models_spec_helpers import tiny_spec
from rejoinder.inference import gate
from rejoinder.inference.quantize import RECIPES, Recipe, matmul_roles
from rejoinder.models.bundle import build_for_spec, load_bundle, save_bundle


def _pairs(n: int = 400, dim: int = 32, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    contexts = rng.normal(size=(n, dim)).astype(np.float32)
    replies = contexts + rng.normal(scale=1.2, size=(n, dim)).astype(np.float32)  # related, not equal
    return contexts, replies


def test_identical_embeddings_pass():
    c, r = _pairs()
    result = gate.judge(c, r, c.copy(), r.copy())
    assert result.passed and result.cosine_mean == pytest.approx(1.0)
    assert result.recall_at_20.low <= result.recall_at_20.float32 <= result.recall_at_20.high
    assert 0 < result.recall_at_20.float32 < 1  # a task that is neither trivial nor hopeless


def test_bent_embeddings_fail_on_cosine_and_say_so():
    c, r = _pairs()
    rng = np.random.default_rng(1)
    result = gate.judge(c, r, c + rng.normal(scale=0.5, size=c.shape), r + rng.normal(scale=0.5, size=r.shape))
    assert not result.passed and "embedding cosine" in result.reason and result.cosine_mean < gate.MIN_COSINE


def test_close_embeddings_that_lose_retrieval_fail_on_the_interval():
    c, r = _pairs()
    # replies shuffled by a tiny amount each: cosine stays high, but the pairing is lost for half the rows
    swapped = r.copy()
    half = len(r) // 2
    swapped[:half] = np.roll(r[:half], 1, axis=0)
    result = gate.judge(c, r, c, swapped)
    assert not result.passed and "recall@20" in result.reason


def test_bootstrap_interval_brackets_the_mean():
    values = np.random.default_rng(0).random(500)
    low, high = gate.bootstrap_interval(values)
    assert low < values.mean() < high and high - low < 0.1


class NoisyRecipe(Recipe):
    """A deliberately broken quantization: the real int8 model, then its word embeddings scrambled."""

    def quantize(self, src: Path, dst: Path) -> list[str]:
        import onnx
        from onnx import numpy_helper

        excluded = RECIPES[0].quantize(src, dst)
        model = onnx.load(str(dst))
        for init in model.graph.initializer:
            if init.name == "word_embeddings":
                table = numpy_helper.to_array(init)
                noisy = table + np.random.default_rng(0).normal(scale=3 * table.std(), size=table.shape).astype(table.dtype)
                init.CopyFrom(numpy_helper.from_array(noisy, init.name))
        onnx.save(model, str(dst))
        return excluded


def test_a_broken_quantization_fails_the_gate_and_leaves_no_int8(tmp_path, bpe_400, held_out, monkeypatch):
    from rejoinder.inference import export

    spec = tiny_spec("retrieval")
    model, _ = build_for_spec(spec, bpe_400)
    monkeypatch.setattr(export, "RECIPES", (NoisyRecipe("broken", "scrambled on purpose", lambda *_: False),))
    bundle_dir = save_bundle(tmp_path / "export", model, bpe_400, spec, version="v-broken", held_out=held_out)
    int8 = json.loads((bundle_dir / "manifest.json").read_text())["inference"]["int8"]
    assert int8["recipe"] == "broken" and "files" not in int8
    assert not int8["gate"]["passed"] and "embedding cosine" in int8["reason"]
    assert not list((bundle_dir / "onnx").glob("*.int8.onnx"))
    with pytest.raises(ValueError, match="no int8 ONNX export"):
        load_bundle(bundle_dir, "int8", runtime="onnxruntime")


def test_recipes_name_the_matmuls_they_keep_in_float32(tmp_path, bpe_400):
    import onnx

    from rejoinder.inference.onnx_graph import export_graphs

    model, _ = build_for_spec(tiny_spec("retrieval", projectionDim=16), bpe_400)
    export_graphs(model, tmp_path)
    graph = onnx.load(str(tmp_path / "encoder.onnx"))
    roles = matmul_roles(graph)
    assert sorted({role for _, role in roles.values()}) == sorted(
        ["qkv", "scores", "context", "attention_output", "intermediate", "output", "projection"])
    every, first_ffn, no_ffn, no_edges = (set(r.excluded(graph)) for r in RECIPES)
    activation = {n for n, (_, role) in roles.items() if role in ("scores", "context")}
    assert every == activation  # attention's activation products always stay float32
    assert first_ffn == activation | {n for n, (layer, role) in roles.items() if role == "output" and layer == 0}
    assert no_ffn == activation | {n for n, (_, role) in roles.items() if role == "output"}
    assert no_edges > no_ffn and {n for n, (layer, _) in roles.items() if layer == 0} <= no_edges
