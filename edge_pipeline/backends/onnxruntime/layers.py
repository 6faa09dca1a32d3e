"""Intermediate tensors of an ONNX model, run in ONNX Runtime: the per-layer view behind the
sensitivity analysis and the cross-backend divergence table.

A QDQ model keeps the names of the float tensors its quantized nodes produce (the Q/DQ pair comes
after), so the FP32 model's tensor names find the same layer in the INT8 model.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import onnxruntime as ort


def onnx_layer_outputs(path: Path, feed: dict[str, np.ndarray], names: list[str],
                       threads: int = 2) -> dict[str, np.ndarray]:
    """The float tensors among ``names`` that ``path`` computes, on ``feed``."""
    import onnx

    model = onnx.load(str(path))
    produced = {out for node in model.graph.node for out in node.output}
    existing = {o.name for o in model.graph.output}
    wanted = [n for n in names if n in produced and n not in existing]
    for name in wanted:
        model.graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
    with tempfile.TemporaryDirectory(prefix="ep-layers-") as tmp:
        augmented = Path(tmp) / "layers.onnx"
        onnx.save(model, str(augmented))
        so = ort.SessionOptions()
        so.log_severity_level = 3
        so.intra_op_num_threads = threads
        # Basic optimizations only: fusions may remove the very tensors asked for.
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        session = ort.InferenceSession(str(augmented), so, providers=["CPUExecutionProvider"])
        outputs = [o.name for o in session.get_outputs()]
        values = session.run(None, feed)
    found = dict(zip(outputs, values, strict=True))
    return {n: found[n] for n in names if n in found and np.asarray(found[n]).dtype.kind == "f"}
