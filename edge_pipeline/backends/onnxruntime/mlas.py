"""Which MLAS kernels ONNX Runtime's CPU EP runs a model's compute layers on, read from the graph it
optimized and the CPU's flags.

ONNX Runtime does not report its kernels. Two rules of ORT 1.32 decide them:
- a QLinearConv with unsigned activations and signed weights whose zero points are all 0 runs on
  MLAS's indirect convolution kernels (qlinearconv.cc; x86 MLAS has them for u8 activations only); a
  grouped one with one channel per group on its depthwise kernels; any other on im2col plus MLAS's
  INT8 GEMM (signed activations shifted to unsigned for its u8 x s8 kernel). A float Conv runs on
  MLAS's NCHWc kernels where ORT's NCHWc transformer rewrote it, else on im2col plus its float GEMM;
- MLAS picks each kernel family from CPUID once, the last supported entry of a fixed order winning
  (platform.cpp): the indirect kernels stop at AVX-512 VNNI, the u8 x s8 GEMM goes on to AMX.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from pathlib import Path

from edge_pipeline.backends.onnxruntime.conv_kernel import conv_group

INDIRECT_ORDER = (("avx2", "AVX2"), ("avx_vnni", "AVX-VNNI"), ("avx512bw", "AVX-512 core"),
                  ("avx512_vnni", "AVX-512 VNNI"))
INT8_GEMM_ORDER = (*INDIRECT_ORDER, ("amx_int8", "AMX"))
# FMA3 comes with AVX2 (MLAS checks both); AVX-512 core stands in for BW/DQ/VL together.
FLOAT_ORDER = (("avx", "AVX"), ("avx2", "FMA3"), ("avx512f", "AVX-512F"))
_INT8_MATMULS = {"QGemm", "QLinearMatMul", "MatMulInteger", "MatMulIntegerToFloat", "DynamicQuantizeMatMul",
                 "QAttention"}
_FLOAT_MATMULS = {"MatMul", "Gemm", "FusedMatMul", "FusedGemm"}


def kernel_family(flags: set[str], order: tuple[tuple[str, str], ...]) -> str:
    """The entry of ``order`` MLAS would pick on a CPU with ``flags`` (x86 /proc/cpuinfo spelling);
    '?' on a CPU that is not x86 (its MLAS kernels follow other rules)."""
    chosen = "SSE" if "sse2" in flags else "?"
    for flag, name in order:
        if flag in flags:
            chosen = name
    return chosen


def optimized_graph(path: Path):
    """The graph ONNX Runtime's CPU EP runs after its optimizations (an onnx.GraphProto)."""
    import onnx
    import onnxruntime as ort

    with tempfile.TemporaryDirectory(prefix="ep-ort-optimized-") as tmp:
        options = ort.SessionOptions()
        options.log_severity_level = 3
        options.optimized_model_filepath = str(Path(tmp) / "optimized.onnx")
        ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        return onnx.load(options.optimized_model_filepath, load_external_data=False).graph


def compute_kernels(path: Path, flags: set[str]) -> Counter:
    """{'<op> <path> (<MLAS kernel family>)': count} over the model's compute layers as ORT runs them."""
    graph = optimized_graph(path)
    label = kernel_label(graph, flags)
    return Counter(found for found in map(label, graph.node) if found)


def kernel_label(graph, flags: set[str]):
    """node -> '<op> <path> (<MLAS kernel family>)' for a compute node of ``graph`` (ORT's optimized
    graph), None for any other node. Initializers stay protos: only zero points are ever decoded."""
    initializers = {init.name: init for init in graph.initializer}
    return lambda node: _label(node, initializers, flags)


def _label(node, initializers: dict, flags: set[str]) -> str | None:
    op = node.op_type
    if op == "QLinearConv":
        return f"QLinearConv {_int8_conv_path(node, initializers, flags)}"
    if op in _INT8_MATMULS:
        return f"{op} INT8 GEMM ({kernel_family(flags, INT8_GEMM_ORDER)})"
    if op in ("Conv", "FusedConv", "NhwcFusedConv"):
        nchwc = node.domain == "com.microsoft.nchwc"
        return f"{op} float {'NCHWc' if nchwc else 'GEMM'} ({kernel_family(flags, FLOAT_ORDER)})"
    if op in _FLOAT_MATMULS:
        return f"{op} float GEMM ({kernel_family(flags, FLOAT_ORDER)})"
    return None


def _int8_conv_path(node, initializers: dict, flags: set[str]) -> str:
    from onnx import numpy_helper

    # QLinearConv inputs: x, x_scale, x_zp, w, w_scale, w_zp, y_scale, y_zp[, bias]
    input_zero_point, weights = initializers.get(node.input[2]), initializers.get(node.input[3])
    weight_zero_point = initializers.get(node.input[5]) if len(node.input) > 5 else None
    input_zero_point, weight_zero_point = (None if proto is None else numpy_helper.to_array(proto)
                                           for proto in (input_zero_point, weight_zero_point))
    group = conv_group(node)
    symmetric = weight_zero_point is not None and weight_zero_point.dtype.kind == "i" and not weight_zero_point.any()
    unsigned_input = input_zero_point is not None and input_zero_point.dtype.kind == "u"
    if group > 1 and weights is not None and weights.dims[0] == group and weights.dims[1] == 1:
        return "depthwise"
    if symmetric and unsigned_input and group == 1:
        return f"indirect ({kernel_family(flags, INDIRECT_ORDER)})"
    return f"INT8 GEMM ({kernel_family(flags, INT8_GEMM_ORDER)})"
