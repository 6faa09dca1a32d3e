"""Which MLAS kernel ONNX Runtime's QLinearConv runs, steered by how the INT8 weights are stored.

ONNX Runtime (1.32, CPU EP) sends a fused QLinearConv with signed weights whose zero points are all
0 to MLAS's indirect "ConvSym" kernels (AVX2, AVX-VNNI, AVX-512 core/VNNI: no AMX kernel), and any
other QLinearConv to im2col plus MLAS's quantized GEMM, whose U8S8 dispatch is AMX on a CPU with
AMX tiles. Storing each weight ``q`` as ``q - 1`` with zero point ``-1`` keeps every dequantized
weight, ``(q - zero_point) * scale``, exactly as it was, and moves the convolution to the GEMM path.
Symmetric 8-bit weights lie in [-127, 127], so ``q - 1`` still fits in int8.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

GEMM_ZERO_POINT = -1


def route_convs_to_gemm(model, min_depth: int = 0) -> list[str]:
    """Rewrite ``model`` (an onnx.ModelProto, QDQ) in place so ONNX Runtime runs its convolutions on the
    quantized GEMM path; returns the names of the convolutions rewritten. Left as they are: grouped
    (depthwise) convolutions, which have their own kernels either way, weights whose initializers
    another node also reads, and convolutions whose GEMM depth (input channels x kernel area) is
    under ``min_depth``: a shallow GEMM fills AMX's 64-deep tiles poorly and pays im2col's copy for
    little work, so the indirect kernels stay faster there."""
    from onnx import numpy_helper

    graph = model.graph
    initializers = {init.name: init for init in graph.initializer}
    producers = {out: node for node in graph.node for out in node.output}
    readers = Counter(name for node in graph.node for name in node.input)
    routed = []
    for conv in graph.node:
        if conv.op_type != "Conv" or conv_group(conv) != 1 or len(conv.input) < 2:
            continue
        dequantize = producers.get(conv.input[1])
        if dequantize is None or dequantize.op_type != "DequantizeLinear" or len(dequantize.input) < 3:
            continue
        weights, zero_point = (initializers.get(name) for name in dequantize.input[0:3:2])
        if weights is None or zero_point is None or readers[weights.name] != 1 or readers[zero_point.name] != 1:
            continue
        if gemm_depth(weights.dims) < min_depth:
            continue
        q, zp = numpy_helper.to_array(weights), numpy_helper.to_array(zero_point)
        if q.dtype != np.int8 or np.any(zp != 0) or q.min() <= np.iinfo(np.int8).min:
            continue
        weights.CopyFrom(numpy_helper.from_array((q.astype(np.int16) + GEMM_ZERO_POINT).astype(np.int8), weights.name))
        zero_point.CopyFrom(numpy_helper.from_array(np.full_like(zp, GEMM_ZERO_POINT), zero_point.name))
        routed.append(conv.name or conv.output[0])
    return routed


def gemm_depth(weight_dims) -> int:
    """K of the GEMM an ungrouped convolution becomes: input channels x kernel area (weights are
    output channels x input channels x kernel)."""
    return int(np.prod(list(weight_dims)[1:], dtype=np.int64))


def conv_group(node) -> int:
    return next((attr.i for attr in node.attribute if attr.name == "group"), 1)
