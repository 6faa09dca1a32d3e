"""Parameters and multiply-accumulates counted on an ONNX graph (no torch needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def onnx_complexity(path: Path, batch_size: int = 1) -> dict[str, int]:
    """MACs of Conv/ConvTranspose/Gemm/MatMul at ``batch_size`` and the count of float weights."""
    import onnx

    model = onnx.shape_inference.infer_shapes(onnx.load(str(path)))
    graph = model.graph
    shapes = _value_shapes(graph, batch_size)
    initializers = {init.name: tuple(init.dims) for init in graph.initializer}
    params = sum(int(np.prod(init.dims)) for init in graph.initializer if init.data_type == onnx.TensorProto.FLOAT)
    macs = sum(_node_macs(node, shapes, initializers) for node in graph.node)
    return {"params": params, "macs": macs}


def _value_shapes(graph, batch_size: int) -> dict[str, tuple[int, ...]]:
    shapes = {}
    for value in list(graph.input) + list(graph.value_info) + list(graph.output):
        dims = value.type.tensor_type.shape.dim
        shapes[value.name] = tuple(d.dim_value if d.HasField("dim_value") else batch_size for d in dims)
    return shapes


def _node_macs(node, shapes, initializers) -> int:
    if node.op_type in ("Conv", "ConvTranspose") and len(node.input) > 1:
        weight = initializers.get(node.input[1]) or shapes.get(node.input[1])
        # Conv: weight (Cout, Cin/g, kH, kW), each output element costs Cin/g*kH*kW MACs.
        # ConvTranspose: weight (Cin, Cout/g, kH, kW), each input element costs Cout/g*kH*kW MACs.
        counted = shapes.get(node.output[0] if node.op_type == "Conv" else node.input[0])
        if not weight or not counted:
            return 0
        return int(np.prod(counted)) * int(np.prod(weight[1:]))
    if node.op_type in ("Gemm", "MatMul"):
        a = shapes.get(node.input[0]) or initializers.get(node.input[0])
        b = initializers.get(node.input[1]) or shapes.get(node.input[1])
        out = shapes.get(node.output[0])
        if not a or not b or not out:
            return 0
        trans_b = any(attr.name == "transB" and attr.i == 1 for attr in node.attribute)
        inner = b[-1] if trans_b else (b[-2] if len(b) >= 2 else b[0])
        return int(np.prod(out)) * int(inner)
    return 0
