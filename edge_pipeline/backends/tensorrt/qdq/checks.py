"""Verify a Q/DQ model against what TensorRT's explicit quantization needs; used after every
quantization (a violation fails the stage) and by the tests."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import onnx

from edge_pipeline.backends.tensorrt.qdq.graph import GraphIndex
from edge_pipeline.backends.tensorrt.qdq.placement import WEIGHTED_OPS, output_channel_axis

QDQ_OPS = ("QuantizeLinear", "DequantizeLinear")


@dataclass
class QdqReport:
    quantize_nodes: int = 0
    dequantize_nodes: int = 0
    quantized_weighted_ops: int = 0
    float_weighted_ops: int = 0
    per_channel_weights: int = 0
    residual_adds: int = 0
    problems: list = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict:
        return asdict(self)


def check_tensorrt_qdq(model: onnx.ModelProto) -> QdqReport:
    graph = GraphIndex.build(model)
    report = QdqReport()
    for node in model.graph.node:
        if node.op_type in QDQ_OPS:
            _check_zero_point(graph, node, report)
        elif node.op_type in WEIGHTED_OPS:
            _check_weight(graph, node, report)
        elif node.op_type == "Add":
            _check_residual(graph, node, report)
    return report


def _check_zero_point(graph: GraphIndex, node, report: QdqReport) -> None:
    if node.op_type == "QuantizeLinear":
        report.quantize_nodes += 1
    else:
        report.dequantize_nodes += 1
    zero = graph.constant_value(node.input[2]) if len(node.input) > 2 and node.input[2] else None
    if zero is None:
        # Without a zero-point ONNX means uint8 0: not TensorRT's signed INT8.
        report.problems.append(f"{node.name}: no zero-point (ONNX then means uint8); TensorRT needs int8 0")
    elif zero.dtype != np.int8 or np.any(zero != 0):
        report.problems.append(f"{node.name}: zero-point {zero.dtype} {np.unique(zero)[:3]}; TensorRT needs int8 0")


def _check_weight(graph: GraphIndex, node, report: QdqReport) -> None:
    weight_dq = graph.producers.get(node.input[1]) if len(node.input) > 1 else None
    data_dq = graph.producers.get(node.input[0])
    if weight_dq is None or weight_dq.op_type != "DequantizeLinear":
        report.float_weighted_ops += 1
        if data_dq is not None and data_dq.op_type == "DequantizeLinear":
            report.problems.append(f"{node.name}: data input quantized but weight is float")
        return
    report.quantized_weighted_ops += 1
    if data_dq is None or data_dq.op_type != "DequantizeLinear":
        report.problems.append(f"{node.name}: weight quantized but data input is not (TRT quantizes all inputs)")
    weights = graph.constant_value(weight_dq.input[0])
    if weights is None:  # an attention MatMul: its second input is an activation, quantized per tensor
        return
    scale = graph.constant_value(weight_dq.input[1])
    axis = _attribute_int(weight_dq, "axis", 1)
    expected = output_channel_axis(node, weights.ndim)
    if scale is None or scale.ndim != 1 or axis % weights.ndim != expected or scale.size != weights.shape[expected]:
        report.problems.append(f"{node.name}: weight not per-channel on output axis {expected}")
    else:
        report.per_channel_weights += 1


def _check_residual(graph: GraphIndex, add, report: QdqReport) -> None:
    inputs = [name for _, name in graph.activation_inputs(add)]
    if len(inputs) != 2:
        return
    quantized = [_is_dequantized(graph, name) for name in inputs]
    from_weighted = [_from_quantized_weighted_op(graph, name) for name in inputs]
    if not any(from_weighted):
        return
    report.residual_adds += 1
    # Rule: exactly one input -- the skip -- is Q/DQ'd; the other is a quantized weighted op's
    # own output that TensorRT fuses the Add into.
    fused = [w and not q for w, q in zip(from_weighted, quantized, strict=True)]
    if sum(quantized) != 1 or not any(fused):
        report.problems.append(
            f"{add.name}: residual Add needs exactly one Q/DQ'd skip input beside a fusable conv output"
        )


def _is_dequantized(graph: GraphIndex, tensor: str) -> bool:
    producer = graph.producers.get(tensor)
    return producer is not None and producer.op_type == "DequantizeLinear"


def _from_quantized_weighted_op(graph: GraphIndex, tensor: str) -> bool:
    producer = graph.producers.get(tensor)
    if producer is None or producer.op_type not in WEIGHTED_OPS or len(producer.input) < 2:
        return False
    if len(graph.consumers.get(tensor, [])) != 1:
        return False  # an output read elsewhere cannot fuse an Add into its kernel
    return _is_dequantized(graph, producer.input[1])


def _attribute_int(node, name: str, default: int) -> int:
    for attr in node.attribute:
        if attr.name == name:
            return int(attr.i)
    return default
