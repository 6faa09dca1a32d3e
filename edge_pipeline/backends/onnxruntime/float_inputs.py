"""Layers kept float read the float tensor, not its dequantized copy.

ONNX Runtime's QDQ quantizer leaves a node it was told to keep float behind the Q/DQ pair that the
node's quantized neighbours need (a residual branch's Add reads the same tensor). ONNX Runtime
1.21 and later then reads DequantizeLinear -> Conv/ConvTranspose/Gemm with float weights as a layer
someone forgot to finish: its WeightBiasQuantization pass rounds the weights to per-tensor INT8 and
adds an INT32 bias DequantizeLinear, so the layer is not float when it runs, and ORT-format
conversion with runtime optimizations fails on that bias node ("invalid model ... <node>_bias_dq").
Reading the QuantizeLinear's float input keeps the layer float wherever ONNX Runtime runs it.
"""

from __future__ import annotations

from collections import Counter

# The op types ORT's WeightBiasQuantization pass quantizes when their first input is dequantized.
REQUANTIZED_BY_ORT = frozenset({"Conv", "ConvTranspose", "Gemm"})


def read_float_inputs(model, float_nodes: list[str]) -> list[str]:
    """Rewrite ``model`` (an onnx.ModelProto, QDQ) in place: each node of ``float_nodes`` that ORT
    would re-quantize reads its first input before the activation's QuantizeLinear; returns the
    names of the nodes rewired. Q/DQ nodes nothing reads any more are removed."""
    graph = model.graph
    wanted = set(float_nodes)
    producers = {out: node for node in graph.node for out in node.output}
    rewired = []
    for node in graph.node:
        if node.name not in wanted or node.op_type not in REQUANTIZED_BY_ORT or not node.input:
            continue
        source = _float_source(node.input[0], producers)
        if source is not None:
            node.input[0] = source
            rewired.append(node.name)
    if rewired:
        _drop_unread_qdq(graph)
    return rewired


def _float_source(tensor: str, producers: dict) -> str | None:
    """The float tensor behind ``tensor`` when it is DequantizeLinear(QuantizeLinear(float)); None
    where it is anything else (a graph input stored quantized has no float tensor to read)."""
    dequantize = producers.get(tensor)
    if dequantize is None or dequantize.op_type != "DequantizeLinear":
        return None
    quantize = producers.get(dequantize.input[0])
    if quantize is None or quantize.op_type != "QuantizeLinear":
        return None
    return quantize.input[0]


def _drop_unread_qdq(graph) -> None:
    outputs = {output.name for output in graph.output}
    while True:
        readers = Counter(name for node in graph.node for name in node.input)
        unread = [node for node in graph.node if node.op_type in ("QuantizeLinear", "DequantizeLinear")
                  and not any(readers[out] or out in outputs for out in node.output)]
        if not unread:
            return
        for node in unread:
            graph.node.remove(node)
