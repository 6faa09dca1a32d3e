"""Intermediate tensors of an ONNX model, run in ONNX Runtime: the per-layer view behind the
fidelity fallback and the cross-backend divergence table.

A QDQ model keeps the names of the float tensors its quantized nodes produce (the Q/DQ pair comes
after), so the FP32 model's tensor names find the same layer in the INT8 model. Where a tensor
feeds a QuantizeLinear -> DequantizeLinear pair, the pair's output is read instead: that is what
the next layers consume, and it differs from the tensor itself where ONNX Runtime folded an
activation into the range (a Relu removed after a Conv leaves the Conv's pre-Relu output under the
Relu's name).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import onnxruntime as ort

_FLOAT_TYPES = ("tensor(float)", "tensor(float16)", "tensor(double)", "tensor(bfloat16)")


def onnx_layer_outputs(path: Path, feed: dict[str, np.ndarray], names: list[str],
                       threads: int = 2) -> dict[str, np.ndarray]:
    """The float tensors among ``names`` that ``path`` computes, on ``feed``. Integer and bool
    tensors (shapes, masks, indices) are left out: they are not compared."""
    import onnx

    model = onnx.load(str(path))
    produced = {out for node in model.graph.node for out in node.output}
    read_as = _dequantized_names(model)
    existing = {o.name for o in model.graph.output}
    wanted = {name: read_as.get(name, name) for name in names if name in produced}
    for tensor in dict.fromkeys(wanted.values()):
        if tensor not in existing:
            # No declared type: ONNX Runtime infers each tensor's real type (int64 shapes, bool masks).
            model.graph.output.append(onnx.helper.make_empty_tensor_value_info(tensor))
    with tempfile.TemporaryDirectory(prefix="ep-layers-") as tmp:
        augmented = Path(tmp) / "layers.onnx"
        onnx.save(model, str(augmented))
        session = _session(augmented, threads)
        floats = [o.name for o in session.get_outputs() if o.type in _FLOAT_TYPES]
        values = session.run(floats, feed)
    found = dict(zip(floats, values, strict=True))
    return {name: found[tensor] for name, tensor in wanted.items() if tensor in found}


def _session(path: Path, threads: int) -> ort.InferenceSession:
    so = ort.SessionOptions()
    so.log_severity_level = 3
    so.intra_op_num_threads = threads
    # Basic optimizations only: fusions may remove the very tensors asked for.
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def _dequantized_names(model) -> dict[str, str]:
    """tensor -> the output of the DequantizeLinear that re-reads it after its QuantizeLinear."""
    consumers: dict[str, list] = {}
    for node in model.graph.node:
        for tensor in node.input:
            consumers.setdefault(tensor, []).append(node)
    found = {}
    for node in model.graph.node:
        if node.op_type != "QuantizeLinear" or not node.output:
            continue
        pairs = [c for c in consumers.get(node.output[0], []) if c.op_type == "DequantizeLinear"]
        if pairs:
            found[node.input[0]] = pairs[0].output[0]
    return found
