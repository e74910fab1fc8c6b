"""GPU: encoder sequences/s and memory, float32 vs bfloat16 vs float16, fixed vs bucketed shapes.

    python bench/bench_gpu.py [--write-docs] [--json gpu.json]        on a GPU machine (< 8 min)
    JAX_PLATFORMS=cpu python bench/bench_gpu.py --smoke                an end-to-end check on a CPU

Keras on the JAX backend (a GPU machine may have JAX with CUDA and no TensorFlow: only keras,
jax and numpy are imported, plus this repository's `rejoinder.models.bert` and
`rejoinder.models.shapes`). Two encoders at sequence length 80, random-initialised (speed does
not depend on the weights): BERT-base size (12 layers, hidden 768, 12 heads, intermediate 3072)
and MiniLM size (6 layers, hidden 384, 12 heads, intermediate 1536). Each is jitted as a
stateless function of its weights and run at batch 1 to 256:

    fixed     every row padded to 80 tokens (the old serving behaviour)
    bucketed  rows with chat-length lengths (CHAT_LENGTHS, measured below) sorted into batches,
              each run at its longest row's bucket (16, 32, 48, 64, 80; rejoinder.models.shapes)

sequences/s counts rows of the same length distribution in both modes (the chunks run in a
shuffled order, so a timed window is a fair sample). Memory is XLA's own analysis of the
compiled batch × 80 executable (arguments + temporaries + outputs), and the device's peak bytes
in use over the run where the runtime reports it. Every shape is compiled before it is timed;
compile seconds are reported. A time budget (--budget-s, default 420) skips what would not fit
in one run and says so in the table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

os.environ.setdefault("KERAS_BACKEND", "jax")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

HEADING = "## GPU"
SEQ = 80
# Tokens per context ([CLS]/[SEP] included) of the 2,377 chatterbot pairs, featurized as the
# default DialogModel does (last 4 turns, maxSeqLength 80) with the MiniLM WordPiece vocabulary:
# mean 12.2, median 9, p99 60. {length: count}
CHAT_LENGTHS = {
    3: 12, 4: 36, 5: 99, 6: 167, 7: 302, 8: 496, 9: 149, 10: 406, 11: 83, 12: 70, 13: 68, 14: 42, 15: 96,
    16: 40, 17: 32, 18: 15, 19: 15, 20: 8, 21: 15, 22: 7, 23: 9, 24: 7, 25: 8, 26: 2, 27: 9, 28: 10, 29: 8,
    30: 5, 31: 7, 32: 7, 33: 9, 34: 9, 35: 6, 36: 13, 37: 2, 38: 4, 39: 9, 40: 10, 41: 7, 42: 6, 43: 1,
    44: 2, 45: 2, 46: 1, 47: 7, 48: 3, 49: 8, 50: 2, 51: 2, 52: 2, 54: 4, 55: 1, 56: 3, 57: 6, 58: 1,
    60: 3, 61: 5, 62: 1, 63: 3, 64: 2, 68: 3, 69: 2, 72: 2, 73: 2, 76: 1, 77: 1, 80: 2,
}
PRECISIONS = ("float32", "bfloat16", "float16")


@dataclass(frozen=True)
class Size:
    name: str
    layers: int
    hidden: int
    heads: int
    intermediate: int
    vocab: int = 30522


FULL = (Size("MiniLM size (6×384)", 6, 384, 12, 1536), Size("BERT-base size (12×768)", 12, 768, 12, 3072))
SMOKE = (Size("smoke (2×64)", 2, 64, 2, 128, vocab=1000),)


def chat_rows(n: int, seed: int = 0) -> np.ndarray:
    """`n` row lengths drawn from CHAT_LENGTHS."""
    lengths = np.array(list(CHAT_LENGTHS), dtype=np.int64)
    p = np.array(list(CHAT_LENGTHS.values()), dtype=np.float64)
    return np.random.default_rng(seed).choice(lengths, size=n, p=p / p.sum())


def ids_for(lengths: np.ndarray, width: int, vocab: int, rng: np.random.Generator) -> np.ndarray:
    """Packed rows: random ids (≥ 1) up to each length, padding (0) after."""
    ids = rng.integers(1, vocab, size=(len(lengths), width), dtype=np.int32)
    ids[np.arange(width)[None, :] >= np.minimum(lengths, width)[:, None]] = 0
    return ids


class Encoder:
    """One encoder size at one precision, jitted as f(weights, ids) -> pooled [b, hidden]."""

    def __init__(self, size: Size, precision: str):
        import jax
        import keras

        from rejoinder.models.bert import BertEncoder
        from rejoinder.models.config import BertConfig

        keras.mixed_precision.set_global_policy("float32" if precision == "float32" else f"mixed_{precision}")
        config = BertConfig(vocab_size=size.vocab, hidden=size.hidden, layers=size.layers, heads=size.heads,
                            intermediate=size.intermediate, max_position=SEQ, dropout=0.0)

        class Pooled(keras.Model):
            def __init__(self) -> None:
                super().__init__()
                self.encoder = BertEncoder(config, name="encoder")

            def call(self, ids, training=False):
                return keras.ops.cast(self.encoder.encode(ids), "float32")

        self.model = Pooled()
        self.model(np.ones((1, 8), np.int32))  # creates the variables
        keras.mixed_precision.set_global_policy("float32")
        self.weights = ([v.value for v in self.model.trainable_variables], [v.value for v in self.model.non_trainable_variables])
        model = self.model

        def forward(weights, ids):
            out, _ = model.stateless_call(weights[0], weights[1], ids, training=False)
            return out

        self.fn = jax.jit(forward)
        self.compiled: dict[tuple[int, int], Any] = {}
        self.compile_s = 0.0

    def compile(self, batch: int, length: int) -> Any:
        if (batch, length) not in self.compiled:
            import jax

            started = time.perf_counter()
            spec = jax.ShapeDtypeStruct((batch, length), np.int32)
            self.compiled[(batch, length)] = self.fn.lower(self.weights, spec).compile()
            self.compile_s += time.perf_counter() - started
        return self.compiled[(batch, length)]

    def memory_mib(self, batch: int, length: int) -> Optional[float]:
        try:
            m = self.compile(batch, length).memory_analysis()
        except Exception:  # not every backend reports it
            return None
        if m is None:
            return None
        used = m.argument_size_in_bytes + m.temp_size_in_bytes + m.output_size_in_bytes
        return used / 2**20

    def rows_per_s(self, chunks: list[np.ndarray], seconds: float) -> float:
        """Run the chunks (each [b, L], compiled beforehand) round-robin for `seconds`."""
        fns = [self.compile(*c.shape) for c in chunks]
        fns[0](self.weights, chunks[0]).block_until_ready()
        done, i, started = 0, 0, time.perf_counter()
        while True:
            fns[i](self.weights, chunks[i]).block_until_ready()
            done += chunks[i].shape[0]
            i = (i + 1) % len(chunks)
            elapsed = time.perf_counter() - started
            if elapsed >= seconds and i == 0 or elapsed >= 3 * seconds:
                return done / elapsed


def workloads(batch: int, vocab: int, rows: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(fixed, bucketed) chunks of the same chat-length rows."""
    from rejoinder.models.shapes import SequenceBuckets, plan_chunks

    rng = np.random.default_rng(batch)
    lengths = chat_rows(-(-max(rows, batch) // batch) * batch, seed=batch)  # whole batches: none dropped
    ids = ids_for(lengths, SEQ, vocab, rng)
    fixed = [ids[i : i + batch] for i in range(0, len(ids) - batch + 1, batch)]
    plan = plan_chunks(lengths, SequenceBuckets.for_length(SEQ), batch)
    bucketed = [ids[c.rows][:, : c.length] for c in plan]
    order = rng.permutation(len(bucketed))
    return fixed, [bucketed[i] for i in order]


def onnx_rows(size: Size, batches: tuple[int, ...], args: argparse.Namespace) -> list[dict[str, Any]]:
    """The fast path (rejoinder.inference): the same encoder exported to ONNX and run by ONNX
    Runtime on its best provider here (CUDA with onnxruntime-gpu installed, else the CPU), float32,
    and int8 (dynamic, per channel; CPU provider only: ONNX Runtime's int8 MatMuls are CPU kernels)."""
    import tempfile

    import onnx
    import onnxruntime as ort
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from rejoinder.inference.onnx_graph import encoder_graph

    work = Path(tempfile.mkdtemp(prefix="bench-gpu-onnx-"))
    encoder = Encoder(size, "float32")
    f32 = work / "encoder.onnx"
    onnx.save(encoder_graph(encoder.model.encoder), str(f32))
    provider = next(p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in ort.get_available_providers())
    graphs = {"float32": f32}
    if provider == "CPUExecutionProvider":
        graphs["int8"] = work / "encoder.int8.onnx"
        quantize_dynamic(str(f32), str(graphs["int8"]), per_channel=True, weight_type=QuantType.QInt8,
                         op_types_to_quantize=["MatMul"], extra_options={"MatMulConstBOnly": True})
    rows = []
    for precision, path in graphs.items():
        sess = ort.InferenceSession(str(path), providers=[provider])
        for batch in batches:
            fixed, bucketed = workloads(batch, size.vocab, args.rows)
            row = {"model": size.name, "runtime": f"onnxruntime {provider.replace('ExecutionProvider', '')}",
                   "precision": precision, "batch": batch,
                   "fixed": onnx_rows_per_s(sess, fixed, args.seconds), "bucketed": onnx_rows_per_s(sess, bucketed, args.seconds),
                   "padded_len": float(np.mean([c.shape[1] for c in bucketed]))}
            rows.append(row)
            print(json.dumps(row), flush=True)
    return rows


def onnx_rows_per_s(sess: Any, chunks: list[np.ndarray], seconds: float) -> float:
    sess.run(None, {"ids": chunks[0]})
    done, i, started = 0, 0, time.perf_counter()
    while True:
        sess.run(None, {"ids": chunks[i]})
        done += chunks[i].shape[0]
        i = (i + 1) % len(chunks)
        elapsed = time.perf_counter() - started
        if elapsed >= seconds and i == 0 or elapsed >= 3 * seconds:
            return done / elapsed


def run(args: argparse.Namespace) -> dict[str, Any]:
    import jax
    import keras

    sizes, batches = (SMOKE, (1, 8)) if args.smoke else (FULL, (1, 8, 32, 128, 256))
    device = jax.devices()[0]
    results: dict[str, Any] = {
        "device": f"{device.platform}: {getattr(device, 'device_kind', str(device))}", "jax": jax.__version__,
        "keras": keras.__version__, "seconds": args.seconds, "rows": [], "skipped": [], "onnx": [],
    }
    started = time.perf_counter()
    for size in sizes:
        for precision in PRECISIONS:
            if time.perf_counter() - started > args.budget_s:
                results["skipped"].append(f"{size.name} {precision}")
                continue
            encoder = Encoder(size, precision)
            for batch in batches:
                fixed, bucketed = workloads(batch, size.vocab, args.rows)
                row = {
                    "model": size.name, "precision": precision, "batch": batch,
                    "fixed": encoder.rows_per_s(fixed, args.seconds),
                    "bucketed": encoder.rows_per_s(bucketed, args.seconds),
                    "padded_len": float(np.mean([c.shape[1] for c in bucketed])),
                    "memory_mib": encoder.memory_mib(batch, SEQ),
                }
                row["compile_s"] = encoder.compile_s
                results["rows"].append(row)
                print(json.dumps(row), flush=True)
            del encoder
    for size in sizes:
        if time.perf_counter() - started > args.budget_s:
            results["skipped"].append(f"{size.name} ONNX Runtime")
            continue
        try:
            results["onnx"] += onnx_rows(size, batches, args)
        except ImportError as error:  # a GPU image without onnxruntime
            results["skipped"].append(f"{size.name} ONNX Runtime ({error.name} not installed)")
    stats = device.memory_stats() if hasattr(device, "memory_stats") else None
    results["peak_mib"] = (stats or {}).get("peak_bytes_in_use", 0) / 2**20 or None
    results["total_s"] = time.perf_counter() - started
    results["tensorflow_imported"] = "tensorflow" in sys.modules
    return results


def markdown(results: dict[str, Any]) -> str:
    peak = f"{results['peak_mib']:.0f} MiB" if results.get("peak_mib") else "not reported"
    lines = [
        f"`python bench/bench_gpu.py` on **{results['device']}** (JAX {results['jax']}, Keras {results['keras']}, "
        f"{platform.machine()}), {results['total_s'] / 60:.1f} min in one run. Random-initialised encoders at "
        f"sequence {SEQ}, jitted; sequences/s over ≥ {results['seconds']:.1f} s per cell. *fixed* pads every row to "
        f"{SEQ}; *bucketed* runs chat-length rows (chatterbot contexts: mean 12 tokens) sorted into batches at "
        "their bucket (16…80); *padded len* = its mean batch length. *XLA MiB* = the compiled batch × 80 "
        f"executable's arguments + temporaries + outputs; peak device memory over the run: {peak}. "
        "*compile s* = the encoder's compile time so far (every shape compiled before it is timed).",
        "",
        "| model | precision | batch | fixed seq/s | bucketed seq/s | × | padded len | XLA MiB | compile s |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results["rows"]:
        mem = f"{r['memory_mib']:.0f}" if r["memory_mib"] is not None else "-"
        lines.append(
            f"| {r['model']} | {r['precision']} | {r['batch']} | {r['fixed']:.0f} | {r['bucketed']:.0f} | "
            f"{r['bucketed'] / r['fixed']:.2f}× | {r['padded_len']:.1f} | {mem} | {r['compile_s']:.1f} |"
        )
    if results.get("onnx"):
        lines += ["", "The fast path (rejoinder.inference): the same encoders exported to ONNX, run by ONNX Runtime "
                      "on the provider named (int8 on the CPU provider only).", "",
                  "| model | runtime | precision | batch | fixed seq/s | bucketed seq/s | × | padded len |",
                  "|---|---|---|---:|---:|---:|---:|---:|"]
        for r in results["onnx"]:
            lines.append(f"| {r['model']} | {r['runtime']} | {r['precision']} | {r['batch']} | {r['fixed']:.0f} | "
                         f"{r['bucketed']:.0f} | {r['bucketed'] / r['fixed']:.2f}× | {r['padded_len']:.1f} |")
    if results["skipped"]:
        lines += ["", f"Skipped to stay within one run's time budget: {', '.join(results['skipped'])}."]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="a tiny encoder, batches 1 and 8: checks the script on a CPU")
    parser.add_argument("--seconds", type=float, default=0.6, help="timed seconds per cell (at least)")
    parser.add_argument("--rows", type=int, default=4096, help="chat-length rows per workload")
    parser.add_argument("--budget-s", type=float, default=420.0, help="skip what starts after this many seconds")
    parser.add_argument("--json", type=Path, help="also write all numbers here")
    parser.add_argument("--from-json", type=Path, help="only render an earlier --json run")
    parser.add_argument("--write-docs", action="store_true", help=f'replace "{HEADING}" in docs/benchmarks.md')
    args = parser.parse_args()
    if args.smoke:
        args.seconds, args.rows = min(args.seconds, 0.2), min(args.rows, 256)
    results = json.loads(args.from_json.read_text()) if args.from_json else run(args)
    if args.json and not args.from_json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    text = markdown(results)
    print(text)
    if args.write_docs:
        if args.smoke or results["device"].startswith("cpu"):
            print("not writing docs: these are not GPU numbers", file=sys.stderr)
            return 2
        from benchdocs import DOCS, replace_section

        replace_section(DOCS, HEADING, text)
        print(f"updated {DOCS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
