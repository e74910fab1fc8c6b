"""The server's choice of runtime and precision, from the bundle's export and the spec."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "inference"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "models"))

from models_spec_helpers import tiny_spec  # noqa: E402
from rejoinder.modelserver import index as ix  # noqa: E402
from rejoinder.modelserver.loading import LoadRequest, load_runtime  # noqa: E402
from rejoinder.models.bundle import build_for_spec, save_bundle  # noqa: E402


@pytest.fixture(scope="module")
def failed_int8_bundle(tmp_path_factory):
    """A retrieval bundle whose int8 quantization was broken on purpose, so its gate failed."""
    from rejoinder.inference import export
    from rejoinder.inference.export import HeldOut
    from rejoinder.datasets.chatterbot import load_corpus
    from rejoinder.text.from_spec import tokenizer_for_spec
    from test_inference_gate import NoisyRecipe

    root = tmp_path_factory.mktemp("fast-path")
    pairs, _ = load_corpus()
    spec = tiny_spec("retrieval")
    tokenizer = tokenizer_for_spec(spec, root / "tok", [t for p in pairs for t in (*p.context, p.response)])
    model, _ = build_for_spec(spec, tokenizer)
    held = HeldOut([list(p.context) for p in pairs[-200:]], [p.response for p in pairs[-200:]])
    saved = export.RECIPES
    export.RECIPES = (NoisyRecipe("broken", "scrambled on purpose", lambda *_: False),)
    try:
        bundle = save_bundle(root / "export", model, tokenizer, spec, version="v-broken", held_out=held)
    finally:
        export.RECIPES = saved
    vectors = np.random.default_rng(0).normal(size=(50, 32)).astype(np.float32)
    index, params = ix.build(vectors, ix.IndexParams("flat"))
    ix.publish(root / "index", index, [f"r{i}" for i in range(50)], [f"reply {i}" for i in range(50)],
               {"params": params.to_json(), "count": 50, "dim": 32})
    return bundle, root / "index"


@pytest.mark.parametrize("precision", ["int8", "auto"])
def test_a_bundle_that_failed_its_gate_serves_float32_and_says_why(failed_int8_bundle, precision):
    bundle_dir, index_dir = failed_int8_bundle
    runtime, identity = load_runtime(LoadRequest(bundle_dir=bundle_dir, index_dir=index_dir, precision=precision,
                                                 max_batch_size=4))
    assert (identity.runtime, identity.precision) == ("onnxruntime", "float32")
    assert "int8 gate not passed" in identity.precision_reason and "embedding cosine" in identity.precision_reason
    assert runtime.bundle.runtime == "onnxruntime" and runtime.bundle.precision == "float32"
    hits = runtime.retrieve_batch([(["hello there"], 5)])
    assert len(hits[0]) == 5


def test_runtime_tensorflow_is_still_served(failed_int8_bundle):
    bundle_dir, index_dir = failed_int8_bundle
    _, identity = load_runtime(LoadRequest(bundle_dir=bundle_dir, index_dir=index_dir, runtime="tensorflow",
                                           precision="none", xla=False, max_batch_size=4))
    assert (identity.runtime, identity.precision) == ("tensorflow", "float32")
    manifest = json.loads((bundle_dir / "manifest.json").read_text())
    assert manifest["inference"]["int8"]["gate"]["passed"] is False


def test_serving_the_onnx_export_never_imports_tensorflow(failed_int8_bundle):
    """The fast path's start-up and memory win: a fresh process loads, warms up and answers
    without TensorFlow or Keras in sys.modules."""
    import subprocess

    bundle_dir, index_dir = failed_int8_bundle
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from rejoinder.modelserver.loading import LoadRequest, load_runtime\n"
        f"runtime, identity = load_runtime(LoadRequest(bundle_dir=Path({str(bundle_dir)!r}), index_dir=Path({str(index_dir)!r}),"
        " max_batch_size=4))\n"
        "runtime.warm_up()\n"
        "assert runtime.retrieve_batch([(['hi'], 3)])[0]\n"
        "print(identity.runtime, sorted(m for m in ('tensorflow', 'keras', 'jax') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().splitlines()[-1] == "onnxruntime []"
