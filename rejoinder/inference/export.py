"""The fast path written into a bundle at export: ONNX float32, int8 and the gate's verdict.

    export_fast_path(task_model, featurizer, out_dir, held_out) -> the manifest's "inference"

1. float32 ONNX graphs (onnx_graph), checked against the Keras model on the held-out text:
   cosine (embeddings) or |difference| (probabilities) per input kind, recorded as `parity`;
2. retrieval only: int8 by the first recipe (quantize.RECIPES, fastest first) whose embedding
   cosine to float32 reaches the gate's bound on the first half of the held-out pairs, then the
   gate (gate.judge) on the other half — the recipe is never judged on the text that chose it.
   A failed gate leaves no int8 file, and the manifest says why.

Without `onnx` (an image without the export tools) or for QA-LSTM models the section says why
there is no export, and the bundle serves with TensorFlow.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import numpy as np

from . import gate as gating
from .quantize import RECIPES, Recipe

log = logging.getLogger(__name__)

ONNX_DIR = "onnx"
PARITY_ROWS = 256  # held-out rows the float32 export is compared on
GATE_PAIRS = 2000  # held-out pairs at most for the recipe choice and the gate (half each)
CHUNK = 64


@dataclass(frozen=True)
class HeldOut:
    """Held-out text the export is checked on (training's eval split)."""

    contexts: Sequence[Sequence[str]]
    responses: Sequence[str]  # responses[i] answers contexts[i]


def held_out_of(records: Sequence[Any]) -> Optional[HeldOut]:
    """Training's eval records → HeldOut: (context, response) pairs and reactions as they are,
    sessions as (all turns but the last, the last); None when there are none."""
    contexts: list[list[str]] = []
    responses: list[str] = []
    for r in records:
        if hasattr(r, "context") and hasattr(r, "response"):
            contexts.append(list(r.context))
            responses.append(r.response)
        elif getattr(r, "turns", None):
            contexts.append(list(r.turns[:-1]) or [r.turns[-1]])
            responses.append(r.turns[-1])
    return HeldOut(contexts, responses) if contexts else None


def _chunked(fn: Callable[[dict[str, np.ndarray]], Any], features: dict[str, np.ndarray], pad: int = 0) -> np.ndarray:
    """fn over chunks of rows sorted by length, each cut to its longest row (masks make the cut
    padding invisible); results in the input order."""
    from ..models.shapes import row_lengths, trim

    lengths = row_lengths(features, pad)
    order = np.argsort(lengths, kind="stable")
    parts = []
    for s in range(0, len(order), CHUNK):
        rows = order[s:s + CHUNK]
        part = trim({k: v[rows] for k, v in features.items()}, max(1, int(lengths[rows].max())))
        parts.append(np.asarray(fn(part), np.float32))
    if not parts:
        return np.zeros((0,), np.float32)
    out = np.concatenate(parts)
    restored = np.empty_like(out)
    restored[order] = out
    return restored


def keras_forward(task_model: Any, kind: str) -> Callable[[dict[str, np.ndarray]], np.ndarray]:
    """The Keras model on one kind of input, as ModelBundle runs it under TensorFlow."""
    import keras

    if kind == "context":
        return lambda f: keras.ops.convert_to_numpy(task_model.encode_context(f["context_ids"]))
    if kind == "response":
        return lambda f: keras.ops.convert_to_numpy(task_model.encode_response(f["response_ids"]))
    return lambda f: keras.ops.convert_to_numpy(keras.ops.sigmoid(task_model(f, training=False)))


def features_for(kind: str, featurizer: Any, held: HeldOut) -> dict[str, np.ndarray]:
    if kind == "context":
        return {"context_ids": featurizer.contexts(held.contexts)}
    if kind == "response":
        return {"response_ids": featurizer.responses(held.responses)}
    if kind == "session":
        return {"input_ids": featurizer.sessions([[*c, r] for c, r in zip(held.contexts, held.responses)])}
    return featurizer.pairs(held.contexts, held.responses)


def compare(kind: str, reference: np.ndarray, candidate: np.ndarray) -> dict[str, float]:
    if reference.ndim == 2:
        cos = gating.row_cosine(reference, candidate)
        return {"cosineMean": round(float(cos.mean()), 7), "cosineMin": round(float(cos.min()), 7)}
    diff = np.abs(reference - candidate)
    return {"maxAbsDiff": round(float(diff.max()), 7)}


def export_fast_path(
    task_model: Any, featurizer: Any, out_dir: Path, held_out: Optional[HeldOut], *,
    recipes: Optional[Sequence[Recipe]] = None,
) -> dict[str, Any]:
    """Write `out_dir`/onnx/ and return the manifest's "inference" section."""
    config = task_model.model_config
    if str(config.architecture) != "bert":
        return {"reason": f"no ONNX export for {config.architecture} models"}
    try:
        import onnxruntime

        from .onnx_graph import OPSET, export_graphs
    except ImportError as error:
        return {"reason": f"no ONNX export: {error.name} is not installed"}
    from .engine import OnnxEngine

    onnx_dir = Path(out_dir) / ONNX_DIR
    files = {kind: f"{ONNX_DIR}/{name}" for kind, name in export_graphs(task_model, onnx_dir).items()}
    section: dict[str, Any] = {"format": "onnx", "opset": OPSET, "onnxruntime": onnxruntime.__version__,
                               "float32": {"files": files}}
    if held_out is None or not held_out.contexts:
        section["int8"] = {"reason": "no held-out text to gate int8 on"}
        return section
    engine = OnnxEngine(out_dir, files)
    parity_held = HeldOut(held_out.contexts[:PARITY_ROWS], held_out.responses[:PARITY_ROWS])
    parity = {}
    for kind in files:
        feats = features_for(kind, featurizer, parity_held)
        pad = featurizer.tokenizer.special.pad
        parity[kind] = compare(kind, _chunked(keras_forward(task_model, kind), feats, pad), _chunked(engine.runner(kind), feats, pad))
    section["float32"]["parity"] = parity
    log.info("ONNX float32 export: parity with Keras %s", parity)
    if str(config.task) != "retrieval":
        section["int8"] = {"reason": f"int8 is gated on retrieval quality; not offered for {config.task} models"}
        return section
    section["int8"] = quantize_and_gate(out_dir, files, featurizer, held_out, recipes or RECIPES)
    return section


def quantize_and_gate(out_dir: Path, files: dict[str, str], featurizer: Any, held_out: HeldOut,
                      recipes: Sequence[Recipe]) -> dict[str, Any]:
    from .engine import OnnxEngine

    n = min(len(held_out.contexts), GATE_PAIRS)
    contexts = featurizer.contexts(held_out.contexts[:n])
    responses = featurizer.responses(held_out.responses[:n])
    choose, judge = np.arange(n) % 2 == 1, np.arange(n) % 2 == 0  # alternate rows: two disjoint halves
    pad = featurizer.tokenizer.special.pad
    f32 = OnnxEngine(out_dir, files)
    ref_c = _chunked(f32.runner("context"), {"context_ids": contexts}, pad)
    ref_r = _chunked(f32.runner("response"), {"response_ids": responses}, pad)
    tried = []
    for recipe in recipes:
        int8_files = {kind: rel.replace(".onnx", ".int8.onnx") for kind, rel in files.items()}
        excluded: list[str] = []
        for rel in sorted(set(files.values())):
            excluded = recipe.quantize(out_dir / rel, out_dir / rel.replace(".onnx", ".int8.onnx"))
        i8 = OnnxEngine(out_dir, int8_files)
        out_c = _chunked(i8.runner("context"), {"context_ids": contexts}, pad)
        out_r = _chunked(i8.runner("response"), {"response_ids": responses}, pad)
        mean, _ = gating.cosine_only(np.concatenate([ref_c[choose], ref_r[choose]]), np.concatenate([out_c[choose], out_r[choose]]))
        tried.append({"recipe": recipe.name, "cosineMean": round(mean, 6)})
        log.info("int8 recipe %s: cosine to float32 %.4f on %d held-out pairs", recipe.name, mean, int(choose.sum()))
        if mean >= gating.MIN_COSINE or recipe is recipes[-1]:
            break
    result = gating.judge(ref_c[judge], ref_r[judge], out_c[judge], out_r[judge])
    log.info("int8 gate (%s): %s — %s", recipe.name, "passed" if result.passed else "FAILED", result.reason)
    section = {"recipe": recipe.name, "description": recipe.description, "excluded": excluded, "tried": tried,
               "gate": result.to_json()}
    if result.passed:
        section["files"] = int8_files
    else:
        section["reason"] = result.reason
        for rel in set(int8_files.values()):
            (out_dir / rel).unlink(missing_ok=True)
    return section
