"""Training throughput (examples/s) of the dual-encoder training step, as `rejoinder train` runs it.

Compares, within one run: float32 vs mixed precision (float16 with dynamic loss scaling, and
bfloat16), without and with XLA, sequence length 128 vs 80, and 12 vs 8 layers. Small widths
on CPU (hidden 128, 2 heads, FFN 512) so the whole table takes minutes on 2 cores; the same
code measures real sizes on a GPU (`--hidden 768 --heads 12 --intermediate 3072`).

Every configuration is built and compiled on warm-up batches first; then `--steps` optimizer
steps of each are timed, round-robin, `--repeats` times, and the table keeps each one's best
round (interleaving spreads bursts of load from other work over all configurations alike).

    python bench/bench_training.py [--steps 10] [--repeats 2] [--write-docs]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchdocs import DOCS, replace_section  # noqa: E402


@dataclass(frozen=True)
class Case:
    label: str
    precision: str  # float32 | float16 | bfloat16
    xla: bool
    seq: int
    layers: int


CASES = [
    Case("FP32", "float32", False, 80, 8),
    Case("mixed float16", "float16", False, 80, 8),
    Case("mixed bfloat16", "bfloat16", False, 80, 8),
    Case("XLA", "float32", True, 80, 8),
    Case("mixed float16 + XLA", "float16", True, 80, 8),
    Case("mixed bfloat16 + XLA", "bfloat16", True, 80, 8),
    Case("XLA, seq 128", "float32", True, 128, 8),
    Case("XLA, 12 layers", "float32", True, 80, 12),
]


def build_step(case: Case, args: argparse.Namespace):
    import keras

    from rejoinder.models.build import build_model
    from rejoinder.models.config import BertConfig, ModelConfig
    from rejoinder.text.features import SequenceConfig
    from rejoinder.text.tokenizer import SpecialIds
    from rejoinder.training.distributed import Distributed
    from rejoinder.training.loop import make_train_step
    from rejoinder.models.precision import PrecisionChoice
    from rejoinder.training.precision import wrap_optimizer
    from rejoinder.training.tasks import RetrievalTask

    special = SpecialIds(pad=0, unk=1, cls=2, sep=3, mask=4)
    bert = BertConfig(vocab_size=args.vocab, hidden=args.hidden, layers=case.layers, heads=args.heads,
                      intermediate=args.intermediate, max_position=case.seq, pooling="mean")
    config = ModelConfig(task="retrieval", architecture="bert", vocab_size=args.vocab, special=special,
                         sequence=SequenceConfig(max_seq_length=case.seq), bert=bert)
    choice = PrecisionChoice(case.precision)
    keras.utils.set_random_seed(0)
    model = build_model(config, precision=choice.model_precision)
    task = RetrievalTask(model, seed=0)
    optimizer = wrap_optimizer(keras.optimizers.AdamW(1e-4), choice)
    optimizer.build(task.trainable_variables)
    step = make_train_step(task, optimizer, Distributed(None), case.xla, choice.loss_scaling)
    return step


def batches(case: Case, args: argparse.Namespace, count: int) -> list[dict]:
    import tensorflow as tf

    rng = np.random.default_rng(1)
    out = []
    for _ in range(count):
        ids = rng.integers(5, args.vocab, size=(2, args.batch, case.seq), dtype=np.int32)
        ids[:, :, 0] = 2
        ids[:, :, -1] = 3
        out.append({"context_ids": tf.constant(ids[0]), "response_ids": tf.constant(ids[1])})
    return out


def prepare(case: Case, args: argparse.Namespace):
    """Build and compile one configuration; returns (step function, batches)."""
    step = build_step(case, args)
    data = batches(case, args, 4)
    for i in range(args.warmup):
        float(step(data[i % len(data)]))
    return step, data


def measure(step, data, args: argparse.Namespace) -> float:
    started = time.perf_counter()
    for i in range(args.steps):
        loss = step(data[i % len(data)])
    float(loss)  # wait for the last step
    return args.steps * args.batch / (time.perf_counter() - started)


def markdown(results: dict[str, float], args: argparse.Namespace) -> str:
    base = results[CASES[0].label]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    lines = [
        f"`python bench/bench_training.py --steps {args.steps} --warmup {args.warmup} --repeats {args.repeats}` — the dual-encoder "
        f"training step of `rejoinder train` (in-batch softmax, AdamW, one process) on {os.cpu_count()} CPU cores "
        f"({platform.machine()}, Python {platform.python_version()}), BERT hidden {args.hidden}, {args.heads} heads, "
        f"FFN {args.intermediate}, batch {args.batch}, sequence length 80 and 8 layers unless the row says otherwise. "
        f"Best of {args.repeats} interleaved rounds of {args.steps} timed steps after {args.warmup} warm-up steps "
        f"(compilation). 1-minute load average {load:.1f} at the end (other work shared these cores).",
        "",
        "| configuration | examples/s | vs FP32 |",
        "|---|---:|---:|",
    ]
    for case in CASES:
        value = results[case.label]
        lines.append(f"| {case.label} | {value:,.1f} | {value / base:.2f}× |")
    r = results
    lines += [
        "",
        f"Sequence length 80 vs 128 (XLA): {r['XLA'] / r['XLA, seq 128']:.2f}× the examples/s; "
        f"8 vs 12 layers (XLA): {r['XLA'] / r['XLA, 12 layers']:.2f}×. "
        f"Mixed float16 vs float32: {r['mixed float16'] / r['FP32']:.2f}× (CPUs have no fast float16 matmuls, "
        "which is why `mixedPrecision: auto` picks float16 only when a GPU is present); "
        f"mixed bfloat16 vs float32: {r['mixed bfloat16'] / r['FP32']:.2f}× (this CPU reports AVX512_BF16); "
        f"XLA vs none in float32: {r['XLA'] / r['FP32']:.2f}×. "
        "The float16/XLA gains of the seed's recipe are GPU gains; no GPU was available for this table.",
    ]
    return "\n".join(lines) + "\n"



def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=10, help="timed steps per configuration and round")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first (XLA compiles here)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--heads", type=int, default=2)
    parser.add_argument("--intermediate", type=int, default=512)
    parser.add_argument("--vocab", type=int, default=8000)
    parser.add_argument("--write-docs", action="store_true", help='replace "## Training" in docs/benchmarks.md')
    args = parser.parse_args()

    # Build and compile everything first, then time the configurations round-robin.
    prepared = {}
    for case in CASES:
        prepared[case.label] = prepare(case, args)
        print(f"compiled {case.label}", file=sys.stderr, flush=True)
    results: dict[str, float] = {}
    for round_ in range(args.repeats):
        for case in CASES:
            value = measure(*prepared[case.label], args)
            results[case.label] = max(results.get(case.label, 0.0), value)
            print(f"round {round_ + 1}: {case.label:24s} {value:8.1f} examples/s", file=sys.stderr, flush=True)
    text = markdown(results, args)
    print(text)
    if args.write_docs:
        replace_section(DOCS, "## Training", text)
        print(f"updated {DOCS}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
