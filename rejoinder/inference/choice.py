"""Which runtime and precision serve a bundle: spec.serving.runtime and spec.serving.mixedPrecision,
the bundle's export (manifest "inference") and this machine, resolved once at load.

    runtime auto        a GPU → TensorFlow (its float16 path); else ONNX Runtime where the bundle
                        has an ONNX export, TensorFlow where it has none (QA-LSTM, older bundles)
    precision auto      ONNX Runtime: int8 where the bundle passed its int8 gate and the CPU has
                        VNNI, else float32. TensorFlow: float16 on a GPU, float32 on a CPU
    precision int8      int8 where the gate passed; float32 (saying why) where it did not
    float16 / bfloat16  TensorFlow's mixed precision (the API refuses them with onnxruntime)

Pure: the caller passes the GPU and VNNI facts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Optional

RUNTIMES = ("auto", "tensorflow", "onnxruntime")
TENSORFLOW, ONNXRUNTIME = "tensorflow", "onnxruntime"


@dataclass(frozen=True)
class EngineChoice:
    runtime: str  # tensorflow | onnxruntime
    precision: str  # float32 | float16 | bfloat16 | int8
    reason: str  # one line for the log and ModelInfo: why this precision


def onnx_files(inference: Optional[Mapping[str, Any]], precision: str) -> Optional[dict[str, str]]:
    """{input kind: file} of the export at `precision` (float32 | int8), None where there is none."""
    if not inference:
        return None
    section = inference.get(precision) or {}
    files = section.get("files")
    return dict(files) if files else None


def int8_gate(inference: Optional[Mapping[str, Any]]) -> tuple[bool, str]:
    """(passed, why) of the bundle's int8 gate."""
    section = (inference or {}).get("int8") or {}
    gate = section.get("gate") or {}
    if onnx_files(inference, "int8") and gate.get("passed"):
        return True, f"int8 gate passed ({gate.get('reason', '')})"
    return False, f"int8 gate not passed: {section.get('reason') or gate.get('reason') or 'the bundle has no int8 export'}"


def choose_engine(runtime: str, precision: str, inference: Optional[Mapping[str, Any]], *, gpu: bool, vnni: bool) -> EngineChoice:
    if runtime not in RUNTIMES:
        raise ValueError(f"unknown runtime {runtime!r}: expected one of {list(RUNTIMES)}")
    precision = "float32" if precision == "none" else precision
    has_onnx = onnx_files(inference, "float32") is not None
    if precision in ("float16", "bfloat16"):
        if runtime == ONNXRUNTIME:
            raise ValueError(f"{precision} is TensorFlow's mixed precision: use runtime tensorflow (or auto)")
        return EngineChoice(TENSORFLOW, precision, f"{precision} asked: TensorFlow mixed precision")
    if runtime == TENSORFLOW or (runtime == "auto" and (gpu or not has_onnx)):
        if precision == "int8":
            if runtime == TENSORFLOW:
                raise ValueError("int8 is served by ONNX Runtime: use runtime onnxruntime (or auto)")
            return EngineChoice(TENSORFLOW, "float32", "int8 asked but the bundle has no ONNX export: TensorFlow float32")
        chosen = "float16" if (precision == "auto" and gpu) else "float32"
        why = "runtime tensorflow asked" if runtime == TENSORFLOW else (
            "a GPU: TensorFlow" if gpu else (inference or {}).get("reason", "the bundle has no ONNX export") + ": TensorFlow")
        return EngineChoice(TENSORFLOW, chosen, why)
    if not has_onnx:
        raise ValueError(f"runtime onnxruntime asked but the bundle has no ONNX export: {(inference or {}).get('reason', 'exported before it existed')}")
    if precision == "float32":
        return EngineChoice(ONNXRUNTIME, "float32", "float32 asked")
    passed, why = int8_gate(inference)
    if precision == "int8":
        return EngineChoice(ONNXRUNTIME, "int8" if passed else "float32", why if passed else f"int8 asked; {why}: float32")
    if passed and not vnni:
        return EngineChoice(ONNXRUNTIME, "float32", "this CPU has no VNNI (avx512_vnni / avx_vnni): float32")
    return EngineChoice(ONNXRUNTIME, "int8" if passed else "float32", why if passed else f"{why}: float32")
