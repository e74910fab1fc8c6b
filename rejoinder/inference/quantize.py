"""int8 for VNNI: ONNX Runtime's dynamic quantization of the weight MatMuls, per output channel.

Weights are int8 per output channel (one scale per column, so a few large columns do not
flatten the rest); activations are quantized per call to uint8 from their own range, which VNNI
multiplies with int8 weights (vpdpbusd) without the 16-bit saturation of older AVX2 paths.
Attention's activation × activation products (scores, probs · values), the softmax and the
LayerNorms stay float32.

Which MatMuls to quantize is a recipe; `RECIPES` lists them fastest first. Measured on
MiniLM-L6 with chitchat dev pairs (docs/benchmarks.md, "int8 recipes"), the one that bends
embeddings most is the FFN down-projection (`output`): its input is the GELU output, whose few
outlier channels set the uint8 range for all the others — most of all in the first layer
(kept float32 alone, it lifts the cosine to float32 from 0.990 to 0.9915; any other single
layer 0.990–0.991). SmoothQuant-style rescaling of those inputs made it worse (0.971 at alpha
0.5): the weights' per-output-channel scales cannot absorb a per-input-channel rescale.
Export tries the recipes in order and keeps the first whose embeddings stay within the cosine
bound (rejoinder.inference.gate).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

# The MatMul roles of rejoinder.inference.onnx_graph (node name = "<layer>.<role>_<n>" or "<role>_<n>").
WEIGHT_ROLES = ("qkv", "attention_output", "intermediate", "output", "projection", "pooler", "logit")
ACTIVATION_ROLES = ("scores", "context")


def matmul_roles(model: object) -> dict[str, tuple[int, str]]:
    """{MatMul node name: (layer index or -1 outside the layers, role)}."""
    out: dict[str, tuple[int, str]] = {}
    for node in model.graph.node:  # type: ignore[attr-defined]
        if node.op_type != "MatMul":
            continue
        match = re.fullmatch(r"(?:layer_(\d+)\.)?([a-z_]+?)_\d+", node.name)
        if match is None:
            raise ValueError(f"MatMul {node.name!r} is not named by onnx_graph's convention")
        out[node.name] = (int(match.group(1)) if match.group(1) is not None else -1, match.group(2))
    return out


@dataclass(frozen=True)
class Recipe:
    """Quantize the weight MatMuls except those `keep_float(layer, role, layers)` says."""

    name: str
    description: str
    keep_float: Callable[[int, str, int], bool] = field(compare=False)

    def excluded(self, model: object) -> list[str]:
        roles = matmul_roles(model)
        layers = 1 + max((layer for layer, _ in roles.values()), default=-1)
        return sorted(name for name, (layer, role) in roles.items()
                      if role in ACTIVATION_ROLES or self.keep_float(layer, role, layers))

    def quantize(self, src: Path, dst: Path) -> list[str]:
        """Write the int8 model of `src` to `dst`; returns the MatMuls left in float32."""
        import onnx
        from onnxruntime.quantization import QuantType, quantize_dynamic

        excluded = self.excluded(onnx.load(str(src), load_external_data=False))
        quantize_dynamic(
            str(src), str(dst), per_channel=True, weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul"],
            nodes_to_exclude=excluded, extra_options={"MatMulConstBOnly": True},
        )
        return excluded


RECIPES: tuple[Recipe, ...] = (
    Recipe("all-weights", "every weight MatMul int8", lambda layer, role, layers: False),
    Recipe("first-ffn-output", "the first layer's FFN down-projection kept float32",
           lambda layer, role, layers: role == "output" and layer == 0),
    Recipe("no-ffn-output", "FFN down-projections kept float32",
           lambda layer, role, layers: role == "output"),
    Recipe("no-ffn-output-no-edges", "FFN down-projections and the first and last layers kept float32",
           lambda layer, role, layers: role == "output" or layer in (0, layers - 1)),
)


def recipe(name: str) -> Recipe:
    for r in RECIPES:
        if r.name == name:
            return r
    raise ValueError(f"unknown int8 recipe {name!r}: expected one of {[r.name for r in RECIPES]}")
