"""The exported bundle is backend-agnostic: saved under TensorFlow, it loads and gives the same
outputs under Keras' JAX backend (docs/architecture.md, "The exported model bundle")."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from rejoinder.models.bundle import create_random_bundle, load_bundle

from models_spec_helpers import tiny_spec

pytestmark = pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="jax is not installed")

CONTEXTS = [["hi", "how are you?"], ["tell me a joke"]]

# One bundle, jitted as a server would run it: JAX compiles every eager op on first use, so each
# extra load costs tens of seconds on 2 cores.
_CHILD = """
import json, sys
import keras
from rejoinder.models.bundle import load_bundle
assert keras.backend.backend() == "jax", keras.backend.backend()
bundle = load_bundle(sys.argv[1], xla=True, batch_sizes=(4,))
print(json.dumps(bundle.encode_contexts(json.loads(sys.argv[2])).tolist()))
"""


@pytest.mark.slow
def test_bundle_saved_under_tensorflow_loads_under_jax(tmp_path, corpus_texts):
    retrieval = create_random_bundle(tiny_spec("retrieval", projectionDim=16), tmp_path / "r", texts=corpus_texts[:2000])
    want = load_bundle(retrieval).encode_contexts(CONTEXTS)

    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(retrieval), json.dumps(CONTEXTS)],
        env=env, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    got = json.loads(done.stdout.strip().splitlines()[-1])
    np.testing.assert_allclose(got, want, atol=1e-5)
