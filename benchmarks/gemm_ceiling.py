"""A measured ceiling per precision: the MAC rate of one large GEMM on this CPU through the
runtimes' own kernels, so that an artifact's efficiency is a share of what this machine really
retires (a VM's /proc/cpuinfo reports the nominal clock, and a flags-times-clock peak put ResNet-18's
FP32 above 100%).

    .venv/bin/python benchmarks/gemm_ceiling.py [--threads 2] [--size 1024]

- fp32: ONNX Runtime MatMul (MLAS SGEMM: FMA on AVX2/AVX-512).
- int8: ONNX Runtime MatMulInteger, uint8 x int8 (MLAS's INT8 GEMM: AVX2 vpmaddubsw, AVX-512 VNNI
  or AMX, whichever the CPU has) and OpenVINO's INT8 MatMul; the faster one.
- bf16: OpenVINO's f32 MatMul under INFERENCE_PRECISION_HINT=bf16, where the CPU has bf16.
Each figure is the best of ``repeats`` timed calls after warm-up: a ceiling, measured, not promised.
"""

from __future__ import annotations

import argparse
import functools
import tempfile
import time
from pathlib import Path

import numpy as np

BEST_OF = 15


@functools.cache
def measured_peak_macs_per_s(precision: str, threads: int = 2, size: int = 1024) -> float | None:
    """MACs per second of a ``size``-cubed GEMM at ``precision`` on ``threads`` cores; None where
    this CPU or the installed runtimes have no kernel for it."""
    with tempfile.TemporaryDirectory(prefix="gemm-ceiling-") as tmp:
        if precision == "fp32":
            return _ort_rate(_matmul(Path(tmp), size, "fp32"), size, threads, np.float32)
        if precision == "int8":
            rates = [_ort_rate(_matmul(Path(tmp), size, "int8"), size, threads, np.uint8),
                     _openvino_rate(Path(tmp), size, threads, "int8")]
            found = [rate for rate in rates if rate is not None]
            return max(found) if found else None
        if precision == "bf16":
            return _openvino_rate(Path(tmp), size, threads, "bf16")
    return None


def _matmul(folder: Path, size: int, precision: str) -> Path:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    if precision == "fp32":
        weight = numpy_helper.from_array(rng.standard_normal((size, size)).astype(np.float32), "w")
        node = helper.make_node("MatMul", ["a", "w"], ["y"])
        a_type, y_type, inits = TensorProto.FLOAT, TensorProto.FLOAT, [weight]
    else:
        weight = numpy_helper.from_array(rng.integers(-127, 128, (size, size)).astype(np.int8), "w")
        zero = numpy_helper.from_array(np.array(128, np.uint8), "a_zero")
        node = helper.make_node("MatMulInteger", ["a", "w", "a_zero"], ["y"])
        a_type, y_type, inits = TensorProto.UINT8, TensorProto.INT32, [weight, zero]
    graph = helper.make_graph([node], "gemm", [helper.make_tensor_value_info("a", a_type, [size, size])],
                              [helper.make_tensor_value_info("y", y_type, [size, size])], initializer=inits)
    path = folder / f"gemm-{precision}.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


def _ort_rate(path: Path, size: int, threads: int, dtype) -> float | None:
    try:
        import onnxruntime as ort
    except ImportError:
        return None
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    a = (np.random.default_rng(1).integers(0, 256, (size, size)) if dtype == np.uint8
         else np.random.default_rng(1).standard_normal((size, size))).astype(dtype)
    return _best_rate(lambda: session.run(None, {"a": a}), size)


def _openvino_rate(folder: Path, size: int, threads: int, precision: str) -> float | None:
    try:
        import openvino as ov
        import openvino.opset13 as ops
    except ImportError:
        return None
    core = ov.Core()
    capabilities = core.get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    if precision == "bf16" and "BF16" not in capabilities:
        return None
    rng = np.random.default_rng(0)
    a = ops.parameter([size, size], np.float32, name="a")
    weight = ops.constant(rng.standard_normal((size, size)).astype(np.float32))
    if precision == "int8":
        # FakeQuantize on both inputs is how an INT8 MatMul reaches the CPU plugin (NNCF's form).
        a = ops.fake_quantize(a, -4.0, 4.0, -4.0, 4.0, 256)
        weight = ops.fake_quantize(weight, -4.0, 4.0, -4.0, 4.0, 255)
    model = ov.Model([ops.matmul(a, weight, False, False)], [a if precision != "int8" else a.input_value(0).node])
    config = {"INFERENCE_NUM_THREADS": threads,
              "INFERENCE_PRECISION_HINT": "bf16" if precision == "bf16" else "f32"}
    request = core.compile_model(model, "CPU", config).create_infer_request()
    feed = rng.standard_normal((size, size)).astype(np.float32)
    return _best_rate(lambda: request.infer([feed]), size)


def _best_rate(call, size: int) -> float:
    for _ in range(3):
        call()
    best = min(_timed(call) for _ in range(BEST_OF))
    return size**3 / best


def _timed(call) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def main() -> None:
    from edge_pipeline.cpuinfo import cpu_flags, cpu_model

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--size", type=int, default=1024)
    args = parser.parse_args()
    flags = sorted(f for f in cpu_flags() if f.startswith(("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx")))
    print(f"CPU: {cpu_model()} ({', '.join(flags)}); {args.threads} threads; GEMM {args.size}^3")
    print("| precision | ceiling GMAC/s |\n|---|---|")
    for precision in ("fp32", "int8", "bf16"):
        rate = measured_peak_macs_per_s(precision, args.threads, args.size)
        print(f"| {precision} | {rate / 1e9:.1f} |" if rate else f"| {precision} | no kernel here |")


if __name__ == "__main__":
    main()
