"""Rewrite an ONNX graph with the Q/DQ pairs of a plan and calibrated activation ranges.

TensorRT's INT8 is symmetric and signed: every zero-point is int8 0 and a value maps to
``clip(round(x / scale), -128, 127)`` with ``scale = amax / 127`` (TRT guide, "Quantization
Scheme"). Weights are stored pre-quantized as int8 initializers behind a per-channel
DequantizeLinear, which TensorRT 10 and 11 accept ("Quantized Weights": an IDequantizeLayer between
the weights and the linear operator) and which keeps the file about 4x smaller than float weights.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

from edge_pipeline.backends.tensorrt.qdq.graph import GraphIndex
from edge_pipeline.backends.tensorrt.qdq.placement import QdqPlan, WeightSpec
from edge_pipeline.errors import ConfigError, StageError

INT8_MAX = 127
MIN_OPSET = 13  # per-axis DequantizeLinear


def insert_qdq(model: onnx.ModelProto, plan: QdqPlan, amax: dict[str, float]) -> onnx.ModelProto:
    """A new model with Q/DQ inserted; ``model`` is left untouched. ``amax``: tensor -> |range|."""
    _check_opset(model)
    missing = sorted(t for t in plan.activations if t not in amax)
    if missing:
        raise StageError(f"no calibrated range for {len(missing)} tensors, e.g. {missing[:3]}; re-run calibration")
    result = onnx.ModelProto()
    result.CopyFrom(model)
    graph = result.graph
    index = GraphIndex.build(result)
    scales = _group_scales(plan, amax)
    head, after = [], {}
    for spec in plan.weights:
        head.append(_quantize_weight(graph, index, spec))
    graph_inputs = {i.name for i in graph.input}
    for tensor in plan.activations:
        pair = _activation_pair(graph, tensor, scales[tensor])
        producer = index.producers.get(tensor)
        if producer is None or tensor in graph_inputs:
            head += pair
        else:
            after.setdefault(producer.name, []).extend(pair)
    _rewire(graph, plan)
    ordered = list(head)
    for node in list(graph.node):
        ordered.append(node)
        ordered += after.get(node.name, [])
    del graph.node[:]
    graph.node.extend(ordered)
    _drop_unused_initializers(graph)
    return result


def _check_opset(model: onnx.ModelProto) -> None:
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
    if opset < MIN_OPSET:
        raise ConfigError(
            f"ONNX opset {opset} has no per-channel DequantizeLinear; export with opset >= {MIN_OPSET} (export.opset)"
        )


def _group_scales(plan: QdqPlan, amax: dict[str, float]) -> dict[str, float]:
    """Per-tensor scale; tensors of one Concat group share the widest range of the group."""
    ranges = {t: float(amax[t]) for t in plan.activations}
    for group in plan.scale_groups:
        widest = max(ranges[t] for t in group if t in ranges)
        ranges.update({t: widest for t in group if t in ranges})
    return {t: (a / INT8_MAX if a > 0 else 1.0) for t, a in ranges.items()}


def _activation_pair(graph, tensor: str, scale: float) -> list:
    scale_name, zero_name = f"{tensor}/qdq_scale", f"{tensor}/qdq_zero_point"
    graph.initializer.extend(
        [
            numpy_helper.from_array(np.array(scale, dtype=np.float32), scale_name),
            numpy_helper.from_array(np.array(0, dtype=np.int8), zero_name),
        ]
    )
    return [
        helper.make_node(
            "QuantizeLinear", [tensor, scale_name, zero_name], [f"{tensor}/quantized"], name=f"{tensor}/Q"
        ),
        helper.make_node(
            "DequantizeLinear", [f"{tensor}/quantized", scale_name, zero_name], [dequantized(tensor)],
            name=f"{tensor}/DQ",
        ),
    ]


def dequantized(tensor: str) -> str:
    return f"{tensor}/dequantized"


def _quantize_weight(graph, index: GraphIndex, spec: WeightSpec):
    weights = index.constant_value(spec.tensor).astype(np.float32)
    channels_first = np.moveaxis(weights, spec.axis, 0)  # (C_out, ...)
    amax = np.abs(channels_first.reshape(spec.channels, -1)).max(axis=1)  # (C_out,)
    scale = np.where(amax > 0, amax / INT8_MAX, 1.0).astype(np.float32)
    shape = [1] * weights.ndim
    shape[spec.axis] = spec.channels
    # Narrow range [-127, 127] keeps the weight grid symmetric, as TensorRT's own weight quantizer does.
    quantized = np.clip(np.round(weights / scale.reshape(shape)), -INT8_MAX, INT8_MAX).astype(np.int8)
    base = f"{spec.node}/weight{spec.input_index}"
    graph.initializer.extend(
        [
            numpy_helper.from_array(quantized, f"{base}/int8"),
            numpy_helper.from_array(scale, f"{base}/scale"),
            numpy_helper.from_array(np.zeros(spec.channels, dtype=np.int8), f"{base}/zero_point"),
        ]
    )
    for node in graph.node:
        if node.name == spec.node:
            node.input[spec.input_index] = f"{base}/dequantized"
    return helper.make_node(
        "DequantizeLinear", [f"{base}/int8", f"{base}/scale", f"{base}/zero_point"], [f"{base}/dequantized"],
        name=f"{base}/DQ", axis=spec.axis,
    )


def _rewire(graph, plan: QdqPlan) -> None:
    sites = {(consumer, index): tensor for tensor, uses in plan.activations.items() for consumer, index in uses}
    for node in graph.node:
        for index, name in enumerate(node.input):
            tensor = sites.get((node.name, index))
            if tensor is not None and name == tensor:
                node.input[index] = dequantized(tensor)


def _drop_unused_initializers(graph) -> None:
    used = {name for node in graph.node for name in node.input} | {o.name for o in graph.output}
    keep = [init for init in graph.initializer if init.name in used]
    del graph.initializer[:]
    graph.initializer.extend(keep)
