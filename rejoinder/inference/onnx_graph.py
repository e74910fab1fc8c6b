"""A trained Keras BERT task model → ONNX graphs, written from its weights with `onnx.helper`.

Why by hand: the architecture is ours and fixed (rejoinder/models/bert.py), so ~150 lines of
`onnx.helper` give a graph we control op by op, needing only `onnx` at export (neither tf2onnx,
which Keras' own ONNX export uses on TensorFlow, nor OpenVINO's TensorFlow frontend was tried).
The graph is the Keras computation op for op, with two exact rewrites: query, key and value
are one [H, 3H] MatMul, and 1/sqrt(head_dim) is folded into the query weights.

One graph per *encoder input*: a dual encoder with a shared tower has one file that contexts
and responses both use (`encoder.onnx`); separate towers give `context.onnx` and
`response.onnx`; a cross-encoder `pair.onnx` (input_ids + segment_ids → P(upvote)); a session
scorer `session.onnx`. Every graph takes int32 ids [batch, length] with both axes dynamic, so
one file serves every sequence bucket and batch size. Opset 20 (LayerNormalization, tanh Gelu
as single ops, which ONNX Runtime and OpenVINO both run as fused kernels).

    export_graphs(model, out_dir) -> dict[kind, file name]      QA-LSTM models: {} (not exported)
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Optional

import numpy as np

OPSET = 20
LN_EPSILON = 1e-12


class GraphBuilder:
    """Nodes and initializers of one graph, with unique names."""

    def __init__(self) -> None:
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self._count = 0

    def name(self, hint: str) -> str:
        self._count += 1
        return f"{hint}_{self._count}"

    def const(self, name: str, value: np.ndarray) -> str:
        from onnx import numpy_helper

        self.initializers.append(numpy_helper.from_array(np.array(value, order="C"), name))  # keeps 0-d scalars 0-d
        return name

    def op(self, op_type: str, inputs: list[str], name: str, **attrs: Any) -> str:
        from onnx import helper

        out = self.name(name)
        self.nodes.append(helper.make_node(op_type, inputs, [out], name=out, **attrs))
        return out


def _w(variable: Any) -> np.ndarray:
    return np.asarray(variable.numpy() if hasattr(variable, "numpy") else variable, dtype=np.float32)


def _dense(g: GraphBuilder, x: str, layer: Any, name: str) -> str:
    """x @ kernel + bias: the MatMul keeps `name` (quantization choices refer to it)."""
    y = g.op("MatMul", [x, g.const(f"{name}.kernel", _w(layer.kernel))], name)
    if layer.use_bias:
        y = g.op("Add", [y, g.const(f"{name}.bias", _w(layer.bias))], f"{name}.add")
    return y


def _layer_norm(g: GraphBuilder, x: str, layer: Any, name: str) -> str:
    return g.op("LayerNormalization", [x, g.const(f"{name}.gamma", _w(layer.gamma)), g.const(f"{name}.beta", _w(layer.beta))],
                name, axis=-1, epsilon=float(layer.epsilon))


def _bert_layer(g: GraphBuilder, x: str, bias: str, layer: Any, heads: int, prefix: str) -> str:
    hidden = _w(layer.query.kernel).shape[0]
    head_dim = hidden // heads
    scale = 1.0 / math.sqrt(head_dim)
    # exact rewrites: one QKV product; the score scale folded into the query weights
    kernel = np.concatenate([_w(layer.query.kernel) * scale, _w(layer.key.kernel), _w(layer.value.kernel)], axis=1)
    qkv_bias = np.concatenate([_w(layer.query.bias) * scale, _w(layer.key.bias), _w(layer.value.bias)])
    qkv = g.op("MatMul", [x, g.const(f"{prefix}.qkv.kernel", kernel)], f"{prefix}.qkv")
    qkv = g.op("Add", [qkv, g.const(f"{prefix}.qkv.bias", qkv_bias)], f"{prefix}.qkv.add")
    split = g.const(f"{prefix}.split", np.array([hidden] * 3, np.int64))
    from onnx import helper

    q, k, v = (f"{prefix}.{p}" for p in "qkv")
    g.nodes.append(helper.make_node("Split", [qkv, split], [q, k, v], name=f"{prefix}.split", axis=-1))
    shape = g.const(f"{prefix}.heads_shape", np.array([0, 0, heads, head_dim], np.int64))
    q = g.op("Transpose", [g.op("Reshape", [q, shape], f"{prefix}.q_heads")], f"{prefix}.q_t", perm=[0, 2, 1, 3])
    k = g.op("Transpose", [g.op("Reshape", [k, shape], f"{prefix}.k_heads")], f"{prefix}.k_t", perm=[0, 2, 3, 1])
    v = g.op("Transpose", [g.op("Reshape", [v, shape], f"{prefix}.v_heads")], f"{prefix}.v_t", perm=[0, 2, 1, 3])
    scores = g.op("Add", [g.op("MatMul", [q, k], f"{prefix}.scores"), bias], f"{prefix}.masked")
    probs = g.op("Softmax", [scores], f"{prefix}.softmax", axis=-1)
    context = g.op("Transpose", [g.op("MatMul", [probs, v], f"{prefix}.context")], f"{prefix}.context_t", perm=[0, 2, 1, 3])
    merged = g.op("Reshape", [context, g.const(f"{prefix}.merge_shape", np.array([0, 0, hidden], np.int64))], f"{prefix}.merge")
    attended = _dense(g, merged, layer.attention_output, f"{prefix}.attention_output")
    x = _layer_norm(g, g.op("Add", [x, attended], f"{prefix}.residual1"), layer.attention_norm, f"{prefix}.attention_norm")
    inner = g.op("Gelu", [_dense(g, x, layer.intermediate, f"{prefix}.intermediate")], f"{prefix}.gelu", approximate="tanh")
    out = _dense(g, inner, layer.output_dense, f"{prefix}.output")
    return _layer_norm(g, g.op("Add", [x, out], f"{prefix}.residual2"), layer.output_norm, f"{prefix}.output_norm")


def _bert_pooled(g: GraphBuilder, encoder: Any, ids: str, segments: Optional[str]) -> str:
    """BertEncoder.encode: embeddings, the layers, then its pooling → [b, hidden]."""
    cfg = encoder.config
    emb = encoder.embeddings
    positions = _w(emb.position_embeddings.embeddings)
    types = _w(emb.token_type_embeddings.embeddings)
    x = g.op("Gather", [g.const("word_embeddings", _w(emb.word_embeddings.embeddings)), ids], "word", axis=0)
    length = g.op("Slice", [g.op("Shape", [ids], "ids_shape"), g.const("one", np.array([1], np.int64)),
                            g.const("two", np.array([2], np.int64))], "length")
    if segments is None:  # every token is segment 0: fold its embedding into the positions
        table = g.const("position_embeddings", positions + types[0])
    else:
        table = g.const("position_embeddings", positions)
        x = g.op("Add", [x, g.op("Gather", [g.const("token_type_embeddings", types), segments], "segment", axis=0)], "with_segments")
    pos = g.op("Slice", [table, g.const("zero", np.array([0], np.int64)), length], "positions")
    x = _layer_norm(g, g.op("Add", [x, pos], "embedded"), emb.layer_norm, "embeddings_norm")
    # attention bias: 0 on tokens, -10000 on padding, [b, 1, 1, L]
    keep = g.op("Cast", [g.op("Not", [g.op("Equal", [ids, g.const("pad_id", np.array(cfg.pad_id, np.int32))], "is_pad")], "not_pad")],
                "keep", to=1)
    bias = g.op("Mul", [g.op("Sub", [g.const("one_f", np.array(1.0, np.float32)), keep], "pad_f"),
                        g.const("mask_value", np.array(-10000.0, np.float32))], "bias")
    bias = g.op("Unsqueeze", [bias, g.const("bias_axes", np.array([1, 2], np.int64))], "bias4")
    for i, layer in enumerate(encoder.encoder_layers):
        x = _bert_layer(g, x, bias, layer, cfg.heads, f"layer_{i}")
    if encoder.pooler is not None:  # [CLS] → tanh Dense
        cls = g.op("Gather", [x, g.const("zero_i", np.array(0, np.int64))], "cls", axis=1)
        return g.op("Tanh", [_dense(g, cls, encoder.pooler, "pooler")], "pooled")
    # masked mean: padding excluded, an all-padding row gives 0
    mask = g.op("Unsqueeze", [keep, g.const("last_axis", np.array([2], np.int64))], "mask3")
    total = g.op("ReduceSum", [g.op("Mul", [x, mask], "masked_seq"), g.const("seq_axis", np.array([1], np.int64))], "total", keepdims=0)
    count = g.op("ReduceSum", [mask, g.const("seq_axis2", np.array([1], np.int64))], "count", keepdims=0)
    count = g.op("Max", [count, g.const("one_f2", np.array(1.0, np.float32))], "count1")
    return g.op("Div", [total, count], "pooled")


def _l2_normalise(g: GraphBuilder, x: str) -> str:
    norm = g.op("Sqrt", [g.op("ReduceSum", [g.op("Mul", [x, x], "sq"), g.const("norm_axis", np.array([-1], np.int64))],
                                  "sumsq", keepdims=1)], "norm")
    return g.op("Div", [x, g.op("Max", [norm, g.const("eps", np.array(1e-12, np.float32))], "norm_eps")], "embedding")


def _model(g: GraphBuilder, inputs: list[str], output: str, name: str, output_dims: list[Any]) -> Any:
    from onnx import TensorProto, helper

    dims = ["batch", "length"]
    graph = helper.make_graph(
        g.nodes, name, [helper.make_tensor_value_info(i, TensorProto.INT32, dims) for i in inputs],
        [helper.make_tensor_value_info(output, TensorProto.FLOAT, output_dims)], initializer=g.initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="rejoinder")
    model.ir_version = 9  # what current ONNX Runtime and OpenVINO releases read
    return model


def _rename_output(g: GraphBuilder, tensor: str, output: str) -> str:
    g.op("Identity", [tensor], output)
    g.nodes[-1].output[0] = output
    return output


def embedding_graph(task_model: Any, tower: Any, input_name: str, name: str) -> Any:
    """A dual-encoder tower: ids → pooled → projection → L2-normalised embedding [b, d]."""
    g = GraphBuilder()
    x = _bert_pooled(g, tower, input_name, None)
    if task_model.projection is not None:
        x = g.op("MatMul", [x, g.const("projection.kernel", _w(task_model.projection.kernel))], "projection")
    _rename_output(g, _l2_normalise(g, x), "output")
    dim = task_model.projection.units if task_model.projection is not None else tower.config.hidden
    return _model(g, [input_name], "output", name, ["batch", dim])


def probability_graph(task_model: Any, inputs: list[str], name: str) -> Any:
    """A cross-encoder or session scorer (BERT): ids (+ segments) → sigmoid(logit) [b]."""
    g = GraphBuilder()
    pooled = _bert_pooled(g, task_model.encoder, inputs[0], inputs[1] if len(inputs) > 1 else None)
    logit = _dense(g, pooled, task_model.logit, "logit")
    squeezed = g.op("Squeeze", [logit, g.const("logit_axis", np.array([1], np.int64))], "logit1")
    _rename_output(g, g.op("Sigmoid", [squeezed], "probability"), "output")
    return _model(g, inputs, "output", name, ["batch"])


def encoder_graph(encoder: Any, name: str = "encoder") -> Any:
    """A bare BertEncoder: ids → pooled [b, hidden] (no projection, no normalisation; benchmarks)."""
    g = GraphBuilder()
    _rename_output(g, _bert_pooled(g, encoder, "ids", None), "output")
    return _model(g, ["ids"], "output", name, ["batch", encoder.config.hidden])


def graphs_for(task_model: Any) -> dict[str, tuple[str, Any]]:
    """{input kind: (file name, ONNX model)}; kinds sharing a file share the model."""
    config = task_model.model_config
    if str(config.architecture) != "bert":
        return {}
    task = str(config.task)
    if task == "retrieval":
        if config.shared_encoder:
            shared = embedding_graph(task_model, task_model.context_encoder, "ids", "encoder")
            return {"context": ("encoder.onnx", shared), "response": ("encoder.onnx", shared)}
        return {
            "context": ("context.onnx", embedding_graph(task_model, task_model.context_encoder, "ids", "context")),
            "response": ("response.onnx", embedding_graph(task_model, task_model.response_encoder, "ids", "response")),
        }
    if task == "reranking":
        return {"pair": ("pair.onnx", probability_graph(task_model, ["input_ids", "segment_ids"], "pair"))}
    if task == "session-scoring":
        return {"session": ("session.onnx", probability_graph(task_model, ["input_ids"], "session"))}
    return {}


def export_graphs(task_model: Any, out_dir: Path) -> dict[str, str]:
    """Write the model's float32 graphs into `out_dir`; returns {input kind: file name}."""
    import onnx

    out_dir.mkdir(parents=True, exist_ok=True)
    files: dict[str, str] = {}
    written: set[str] = set()
    for kind, (file, model) in graphs_for(task_model).items():
        if file not in written:
            onnx.checker.check_model(model)
            onnx.save_model(model, str(out_dir / file))
            written.add(file)
        files[kind] = file
    return files
