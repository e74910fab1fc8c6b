"""Which runtime and precision serve a bundle (rejoinder.inference.choice), and the VNNI check."""

from __future__ import annotations

import pytest

from rejoinder.cpus import cpu_flags, has_vnni
from rejoinder.inference.choice import choose_engine

F32 = {"float32": {"files": {"context": "onnx/encoder.onnx", "response": "onnx/encoder.onnx"}}}
PASSED = {**F32, "int8": {"files": {"context": "onnx/encoder.int8.onnx", "response": "onnx/encoder.int8.onnx"},
                          "gate": {"passed": True, "reason": "cosine 0.995 ≥ 0.99"}}}
FAILED = {**F32, "int8": {"gate": {"passed": False}, "reason": "embedding cosine to float32 0.9400 < 0.99"}}
NO_EXPORT = {"reason": "no ONNX export for qa-lstm models"}


@pytest.mark.parametrize("runtime, precision, inference, gpu, vnni, want", [
    ("auto", "auto", PASSED, False, True, ("onnxruntime", "int8")),
    ("auto", "auto", PASSED, False, False, ("onnxruntime", "float32")),  # no VNNI: int8 does not pay
    ("auto", "auto", FAILED, False, True, ("onnxruntime", "float32")),
    ("auto", "int8", FAILED, False, True, ("onnxruntime", "float32")),  # asked, but the gate failed
    ("auto", "int8", PASSED, False, False, ("onnxruntime", "int8")),  # asked explicitly: served
    ("auto", "none", PASSED, False, True, ("onnxruntime", "float32")),
    ("auto", "auto", PASSED, True, True, ("tensorflow", "float16")),  # a GPU: TensorFlow's float16
    ("auto", "auto", NO_EXPORT, False, True, ("tensorflow", "float32")),
    ("auto", "auto", None, False, True, ("tensorflow", "float32")),  # a bundle from before the export
    ("auto", "bfloat16", PASSED, False, True, ("tensorflow", "bfloat16")),
    ("tensorflow", "auto", PASSED, False, True, ("tensorflow", "float32")),
    ("onnxruntime", "auto", PASSED, True, True, ("onnxruntime", "int8")),
])
def test_choice(runtime, precision, inference, gpu, vnni, want):
    choice = choose_engine(runtime, precision, inference, gpu=gpu, vnni=vnni)
    assert (choice.runtime, choice.precision) == want and choice.reason


def test_the_reason_says_why_not_int8():
    assert "0.9400 < 0.99" in choose_engine("auto", "int8", FAILED, gpu=False, vnni=True).reason
    assert "VNNI" in choose_engine("auto", "auto", PASSED, gpu=False, vnni=False).reason


@pytest.mark.parametrize("runtime, precision, inference", [
    ("tensorflow", "int8", PASSED),
    ("onnxruntime", "float16", PASSED),
    ("onnxruntime", "auto", NO_EXPORT),
    ("jax", "auto", PASSED),
])
def test_impossible_asks_are_refused(runtime, precision, inference):
    with pytest.raises(ValueError):
        choose_engine(runtime, precision, inference, gpu=False, vnni=True)


def test_vnni_from_cpuinfo(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu sse avx2 avx512f avx512_vnni\n")
    assert "avx512_vnni" in cpu_flags(info) and has_vnni(cpu_flags(info))
    info.write_text("processor\t: 0\nflags\t\t: fpu sse avx2\n")
    assert not has_vnni(cpu_flags(info))
    assert cpu_flags(tmp_path / "missing") == frozenset()
