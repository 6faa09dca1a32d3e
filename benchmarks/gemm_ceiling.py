"""A measured ceiling per precision: the best MAC rate this CPU retires through the runtimes' own
kernels on one large GEMM and on the 3x3 convolutions real CNNs run, so that an artifact's
efficiency is a share of what this machine really does (a VM's /proc/cpuinfo reports the nominal
clock, and a flags-times-clock peak put ResNet-18's FP32 above 100%; a GEMM alone put OpenVINO's
INT8 ResNet-18 at 103%, its convolution kernel being faster than its MatMul).

    .venv/bin/python benchmarks/gemm_ceiling.py [--threads 2] [--size 1024]

Kernels per precision (the instruction path is the CPU's: see ``instruction_path``):
- fp32: ONNX Runtime MatMul and Conv (MLAS SGEMM and NCHWc conv: FMA), OpenVINO MatMul and
  Convolution under INFERENCE_PRECISION_HINT=f32.
- int8: ONNX Runtime MatMulInteger and QLinearConv, uint8 x int8 (MLAS: AVX2 vpmaddubsw, AVX-512
  VNNI or AMX, whichever the CPU has); OpenVINO MatMul and Convolution behind FakeQuantize (NNCF's
  form), counted only where the plugin runs them in i8/u8.
- bf16: OpenVINO MatMul and Convolution under INFERENCE_PRECISION_HINT=bf16, where the CPU has bf16.
Convolutions: 64 channels at 56x56 and 256 at 14x14, 3x3, batch 1 (ResNet's first and third
stages). Each kernel runs on all the threads, and on one thread with its rate times the threads (the
cores apart, as a throughput run's streams use them, at one busy core's clock). Each figure is the
best of BEST_OF timed calls after warm-up; the ceiling is the fastest of them at its precision:
measured, not promised. An efficiency above 100% means a kernel this table
does not time ran faster, and realsize.py marks it.
"""

from __future__ import annotations

import argparse
import functools
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

BEST_OF = 15
CONVS = ((64, 56), (256, 14))  # (channels, spatial side) of a 3x3, stride-1, same-padded convolution
PRECISIONS = ("fp32", "int8", "bf16")


@functools.cache
def measured_peak_macs_per_s(precision: str, threads: int = 2, size: int = 1024) -> float | None:
    """MACs per second of the fastest kernel at ``precision`` on ``threads`` cores; None where this
    CPU or the installed runtimes have no kernel for it."""
    rates = [rate for rate in kernel_rates(precision, threads, size).values() if rate is not None]
    return max(rates) if rates else None


@functools.cache
def kernel_rates(precision: str, threads: int = 2, size: int = 1024) -> dict[str, float | None]:
    """MACs per second per kernel at ``precision``: each kernel on ``threads`` threads, and on one thread
    times ``threads`` ('... x1 thread x2'). The second bounds what the cores retire apart (as a
    throughput run's streams use them), without the threads' synchronisation, at one busy core's clock."""
    shapes = [("gemm", size, size), *(("conv", channels, side) for channels, side in CONVS)]
    rates: dict[str, float | None] = {}
    with tempfile.TemporaryDirectory(prefix="mac-ceiling-") as tmp:
        for shape in shapes:
            for runtime in ("onnxruntime", "openvino") if precision != "bf16" else ("openvino",):
                name = f"{runtime} {_label(shape, runtime, precision)}"
                rates[f"{name}, {threads} threads"] = _rate(runtime, Path(tmp), shape, threads, precision)
                if threads > 1:
                    one = _rate(runtime, Path(tmp), shape, 1, precision)
                    rates[f"{name}, 1 thread x{threads}"] = None if one is None else one * threads
    return rates


def _rate(runtime: str, folder: Path, shape: tuple[str, int, int], threads: int, precision: str) -> float | None:
    if runtime == "onnxruntime":
        return _ort_rate(folder, shape, threads, precision)
    return _openvino_rate(shape, threads, precision)


def instruction_path(precision: str, flags: set[str]) -> str:
    """The widest path the CPU's flags give the runtimes' kernels at ``precision``."""
    if precision == "fp32":
        return "AVX-512 FMA" if "avx512f" in flags else "AVX2 FMA" if "fma" in flags else "SSE"
    if precision == "int8":
        if "amx_int8" in flags:
            return "AMX-INT8"
        if "avx512_vnni" in flags:
            return "AVX-512 VNNI"
        return "AVX-VNNI" if "avx_vnni" in flags else "AVX2 vpmaddubsw (no VNNI)"
    return "AMX-BF16" if "amx_bf16" in flags else "AVX-512 BF16" if "avx512_bf16" in flags else "none"


def _label(shape: tuple[str, int, int], runtime: str, precision: str) -> str:
    kind, a, b = shape
    op = {("gemm", "onnxruntime", "int8"): "MatMulInteger", ("conv", "onnxruntime", "int8"): "QLinearConv"}.get(
        (kind, runtime, precision), "MatMul" if kind == "gemm" else "Conv")
    return f"{op} {a}^3" if kind == "gemm" else f"{op} 3x3 {a}ch {b}x{b}"


def _macs(shape: tuple[str, int, int]) -> int:
    kind, a, b = shape
    return a**3 if kind == "gemm" else a * a * 9 * b * b


def _ort_rate(folder: Path, shape: tuple[str, int, int], threads: int, precision: str) -> float | None:
    try:
        import onnxruntime as ort
    except ImportError:
        return None
    path, feed = _ort_model(folder, shape, precision)
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return _best_rate(lambda: session.run(None, feed), _macs(shape))


def _ort_model(folder: Path, shape: tuple[str, int, int], precision: str) -> tuple[Path, dict[str, np.ndarray]]:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    kind, a, b = shape
    rng = np.random.default_rng(0)
    weight_shape = (a, a) if kind == "gemm" else (a, a, 3, 3)
    input_shape = [a, a] if kind == "gemm" else [1, a, b, b]
    output_shape = [a, a] if kind == "gemm" else [1, a, b, b]
    pads = {} if kind == "gemm" else {"pads": [1, 1, 1, 1]}
    if precision == "fp32":
        inits = [numpy_helper.from_array(rng.standard_normal(weight_shape).astype(np.float32), "w")]
        node = helper.make_node("MatMul" if kind == "gemm" else "Conv", ["a", "w"], ["y"], **pads)
        a_type, y_type = TensorProto.FLOAT, TensorProto.FLOAT
        feed = {"a": rng.standard_normal(input_shape).astype(np.float32)}
    else:
        weight = numpy_helper.from_array(rng.integers(-127, 128, weight_shape).astype(np.int8), "w")
        scalars = {name: numpy_helper.from_array(np.array(value, dtype), name) for name, value, dtype in (
            ("a_scale", 0.02, np.float32), ("a_zero", 128, np.uint8), ("w_scale", 0.01, np.float32),
            ("w_zero", 0, np.int8), ("y_scale", 0.5, np.float32), ("y_zero", 128, np.uint8))}
        if kind == "gemm":
            node = helper.make_node("MatMulInteger", ["a", "w", "a_zero"], ["y"])
            y_type = TensorProto.INT32
        else:
            node = helper.make_node("QLinearConv", ["a", "a_scale", "a_zero", "w", "w_scale", "w_zero",
                                                    "y_scale", "y_zero"], ["y"], **pads)
            y_type = TensorProto.UINT8
        inits, a_type = [weight, *(scalars[name] for name in node.input if name in scalars)], TensorProto.UINT8
        feed = {"a": rng.integers(0, 256, input_shape).astype(np.uint8)}
    graph = helper.make_graph([node], "kernel", [helper.make_tensor_value_info("a", a_type, input_shape)],
                              [helper.make_tensor_value_info("y", y_type, output_shape)], initializer=inits)
    path = folder / f"{kind}-{a}-{b}-{precision}.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path, feed


def _openvino_rate(shape: tuple[str, int, int], threads: int, precision: str) -> float | None:
    try:
        import openvino as ov
        import openvino.opset13 as ops
    except ImportError:
        return None
    core = ov.Core()
    if precision == "bf16" and "BF16" not in core.get_property("CPU", "OPTIMIZATION_CAPABILITIES"):
        return None
    kind, a, b = shape
    rng = np.random.default_rng(0)
    input_shape = [a, a] if kind == "gemm" else [1, a, b, b]
    parameter = ops.parameter(input_shape, np.float32, name="a")
    weight = ops.constant(rng.standard_normal((a, a) if kind == "gemm" else (a, a, 3, 3)).astype(np.float32))
    x: object = parameter
    if precision == "int8":
        # FakeQuantize on both inputs is how an INT8 MatMul or Convolution reaches the CPU plugin (NNCF's form).
        x = ops.fake_quantize(parameter, 0.0, 4.0, 0.0, 4.0, 256)
        weight = ops.fake_quantize(weight, -4.0, 4.0, -4.0, 4.0, 255)
    output = (ops.matmul(x, weight, False, False) if kind == "gemm"
              else ops.convolution(x, weight, [1, 1], [1, 1], [1, 1], [1, 1]))
    config = {"INFERENCE_NUM_THREADS": threads, "INFERENCE_PRECISION_HINT": "bf16" if precision == "bf16" else "f32"}
    compiled = core.compile_model(ov.Model([output], [parameter]), "CPU", config)
    if precision == "int8" and not _runs_int8(compiled):
        return None  # the plugin decompressed it: not an INT8 kernel's rate
    request = compiled.create_infer_request()
    feed = np.abs(rng.standard_normal(input_shape)).astype(np.float32)
    return _best_rate(lambda: request.infer([feed]), _macs(shape))


def _runs_int8(compiled) -> bool:
    layers = [op.get_rt_info() for op in compiled.get_runtime_model().get_ordered_ops()]
    return any(info["layerType"].astype(str) in ("MatMul", "FullyConnected", "Convolution")
               and info["runtimePrecision"].astype(str) in ("i8", "u8") for info in layers)


def _best_rate(call: Callable[[], object], macs: int) -> float:
    from edge_pipeline.benchmarking.timing import time_calls

    best_ms = min(time_calls(call, 3, BEST_OF, None))
    return macs / (best_ms / 1e3)


def main() -> None:
    from edge_pipeline.cpuinfo import cpu_flag_set, cpu_model

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--size", type=int, default=1024)
    args = parser.parse_args()
    flags = cpu_flag_set()
    shown = sorted(f for f in flags if f.startswith(("avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni",
                                                      "avx512_bf16", "amx")))
    print(f"CPU: {cpu_model()} ({', '.join(shown)}); {args.threads} threads; GEMM {args.size}^3\n")
    print("| precision | instruction path | kernel | GMAC/s |\n|---|---|---|---|")
    for precision in PRECISIONS:
        path = instruction_path(precision, flags)
        for kernel, rate in kernel_rates(precision, args.threads, args.size).items():
            print(f"| {precision} | {path} | {kernel} | {rate / 1e9:.1f} |" if rate else
                  f"| {precision} | {path} | {kernel} | no kernel here |")
    print("\n| precision | ceiling GMAC/s (fastest kernel) |\n|---|---|")
    for precision in PRECISIONS:
        rate = measured_peak_macs_per_s(precision, args.threads, args.size)
        print(f"| {precision} | {rate / 1e9:.1f} |" if rate else f"| {precision} | no kernel here |")


if __name__ == "__main__":
    main()
