"""Where Q/DQ pairs go so that TensorRT fuses them into INT8 kernels.

Each rule cites the NVIDIA guidance it follows. "TRT guide" is the TensorRT Developer Guide,
"Explicit Quantization" chapter, sections "Q/DQ Layer-Placement Recommendations", "Q/DQ
Propagation" and "Q/DQ Layer Fusion"; "ModelOpt" is NVIDIA TensorRT Model Optimizer's ONNX
quantizer (modelopt/onnx/quantization), whose small-channel limits come from TensorRT's kernels.

The plan only ever quantizes two kinds of tensors: the inputs of weighted ops, and the skip input
of a residual Add. Everything else -- Relu, MaxPool, Reshape, Transpose, Flatten, Concat, Slice,
Pad, Resize -- gets no Q/DQ of its own: TensorRT moves DQ forward and Q backward across ops that
commute with quantization (TRT guide, "Q/DQ Propagation"), so a pair placed around them would only
add a requantization that splits a fusion.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import onnx

from edge_pipeline.backends.tensorrt.qdq.graph import GraphIndex, attribute

WEIGHTED_OPS = ("Conv", "ConvTranspose", "Gemm", "MatMul")
# TRT guide: "the recommended way to quantize weighted ops is to quantize all their inputs";
# TensorRT fuses an Add that follows them into the kernel's epilogue, hence residual fusion.
RESIDUAL_FUSERS = WEIGHTED_OPS
# ModelOpt `find_nodes_from_convs_to_exclude` / `_MIN_MATMUL_DIM`: INT8 tensor-core kernels need
# 16 channels (or a multiple of 8 in a few shapes) to beat FP16; below that Q/DQ slows TRT down.
MIN_CHANNELS = 16
CHANNEL_MULTIPLE = 8


@dataclass(frozen=True)
class WeightSpec:
    node: str
    input_index: int
    tensor: str
    axis: int  # output-channel axis of the weight tensor
    channels: int


@dataclass
class QdqPlan:
    activations: dict = field(default_factory=dict)  # tensor -> [(consumer node name, input index)]
    reasons: dict = field(default_factory=dict)  # tensor -> the rule that quantized it
    weights: list = field(default_factory=list)  # [WeightSpec]
    scale_groups: list = field(default_factory=list)  # [set of tensors that must share one scale]
    float_nodes: dict = field(default_factory=dict)  # weighted node name -> why it stays float
    residual_adds: dict = field(default_factory=dict)  # Add name -> {"fused": tensor, "skip": tensor}

    def quantize(self, tensor: str, consumer: str, index: int, reason: str) -> None:
        sites = self.activations.setdefault(tensor, [])
        if (consumer, index) not in sites:
            sites.append((consumer, index))
        self.reasons.setdefault(tensor, reason)


def plan_qdq(model: onnx.ModelProto, exclude_nodes=(), exclude_op_types=(),
             min_channels: int = MIN_CHANNELS, attention_matmuls: frozenset[str] = frozenset()) -> QdqPlan:
    """``attention_matmuls``: the activation x activation MatMuls of attention blocks (Q @ K^T and
    softmax @ V), which get Q/DQ on both inputs so TensorRT can fuse INT8 multi-head attention."""
    graph = GraphIndex.build(model)
    plan = QdqPlan()
    quantized_ops = set()
    for node in graph.model.graph.node:
        if node.op_type not in WEIGHTED_OPS:
            continue
        if node.name in attention_matmuls and node.name not in exclude_nodes:
            # ModelOpt quantizes both BMM inputs of an MHA block by default (--disable_mha_qdq turns it
            # off): TensorRT's fused attention kernels take INT8 Q, K, V and probabilities.
            for index, name in graph.activation_inputs(node):
                plan.quantize(name, node.name, index, "input of an attention MatMul (TensorRT MHA fusion)")
            quantized_ops.add(node.name)
            continue
        why_float = _why_float(graph, node, set(exclude_nodes), set(exclude_op_types), min_channels)
        if why_float:
            plan.float_nodes[node.name] = why_float
            continue
        quantized_ops.add(node.name)
        _quantize_weighted_inputs(graph, node, plan)
    for node in graph.model.graph.node:
        if node.op_type == "Add":
            _quantize_residual_skip(graph, node, quantized_ops, plan)
    plan.scale_groups = _concat_scale_groups(graph, plan)
    return plan


def _quantize_weighted_inputs(graph: GraphIndex, node, plan: QdqPlan) -> None:
    # TRT guide, "Quantize all inputs of weighted operations (Convolution, Transposed Convolution
    # and GEMM)": activations per-tensor, weights per-channel. Outputs stay unquantized ("By
    # default, don't quantize the outputs of weighted operations"), which leaves a following Add
    # or activation free to fuse into the same kernel.
    for index, name in graph.activation_inputs(node):
        if index < 2:  # data (and MatMul's B); a Conv/Gemm bias stays float, TensorRT fuses it
            plan.quantize(name, node.name, index, f"input of {node.op_type} (TRT: quantize inputs of weighted ops)")
    weight = node.input[1]
    if graph.is_constant(weight):
        shape = graph.constant_value(weight).shape
        axis = output_channel_axis(node, len(shape))
        plan.weights.append(WeightSpec(node.name, 1, weight, axis, int(shape[axis])))


def output_channel_axis(node, rank: int) -> int:
    """Axis of the weight that indexes output channels: the per-channel quantization axis."""
    if node.op_type == "Conv":
        return 0  # (M, C/group, kH, kW)
    if node.op_type == "ConvTranspose":
        return 1  # (C, M/group, kH, kW)
    if node.op_type == "Gemm":
        return 0 if attribute(node, "transB", 0) else 1  # B is (N, K) when transposed, else (K, N)
    return rank - 1  # MatMul B is (..., K, N)


def _why_float(graph: GraphIndex, node, exclude_nodes: set, exclude_op_types: set, min_channels: int) -> str | None:
    if node.name in exclude_nodes or node.op_type in exclude_op_types:
        return "excluded by quantize.exclude_nodes / exclude_op_types"
    if len(node.input) < 2 or not graph.is_constant(node.input[1]):
        # TensorRT can run activation x activation MatMul in INT8, but the small-dimension check
        # below needs shapes known before runtime; keep it in float rather than guess.
        return "second input is not a constant weight"
    shape = graph.constant_value(node.input[1]).shape
    if node.op_type == "Conv":
        return _conv_too_small(graph, node, shape, min_channels)
    if node.op_type == "ConvTranspose":
        group = attribute(node, "group", 1)
        if group != 1 or min(shape[0], shape[1]) < min_channels:
            return f"ConvTranspose with group={group}, channels {shape[0]}->{shape[1]} (< {min_channels} or grouped)"
        return None
    k_axis = 1 if (node.op_type == "Gemm" and attribute(node, "transB", 0)) else len(shape) - 2
    n_axis = output_channel_axis(node, len(shape))
    if min(shape[k_axis], shape[n_axis]) < min_channels:
        # ModelOpt `_MIN_MATMUL_DIM`: GEMMs with K or N below 16 regress in INT8 on TensorRT.
        return f"{node.op_type} K={shape[k_axis]}, N={shape[n_axis]} below {min_channels}"
    return None


def _conv_too_small(graph: GraphIndex, node, shape, min_channels: int) -> str | None:
    out_channels, in_per_group = int(shape[0]), int(shape[1])
    if out_channels >= min_channels and in_per_group >= min_channels:
        return None
    group = attribute(node, "group", 1)
    kernel = list(shape[2:])
    if group == 1:
        # ModelOpt: a dense conv with few channels still has INT8 kernels when a channel count is
        # a multiple of 8, the kernel is square and either it reads the graph input (the stem)
        # or the other channel count reaches 16.
        aligned = out_channels % CHANNEL_MULTIPLE == 0 or in_per_group % CHANNEL_MULTIPLE == 0
        reads_input = node.input[0] in {i.name for i in graph.model.graph.input}
        wide_enough = reads_input or max(out_channels, in_per_group) >= min_channels
        if aligned and wide_enough and len(set(kernel)) == 1:
            return None
    elif out_channels % CHANNEL_MULTIPLE == 0 and all(k >= 3 for k in kernel):
        return None  # ModelOpt: grouped / depthwise conv with 8-aligned outputs and k >= 3
    return f"Conv {in_per_group * group}->{out_channels} channels (group {group}) too few for INT8 kernels"


def _quantize_residual_skip(graph: GraphIndex, add, quantized_ops: set, plan: QdqPlan) -> None:
    # TRT guide, "Quantize the residual input in skip connections": TensorRT fuses an Add into
    # the convolution that produces one of its inputs when the other input is INT8 (Q/DQ'd). The
    # fused branch stays unquantized (it is the kernel's own output); the skip input gets Q/DQ.
    inputs = graph.activation_inputs(add)
    if len(inputs) != 2:
        return
    fusable = [(i, name) for i, name in inputs if _fuses_into_producer(graph, name, quantized_ops)]
    if not fusable:
        return
    # Both branches end in a weighted op (a projection shortcut): the deeper one is the main
    # branch that TensorRT fuses into (ModelOpt `build_non_residual_input_map` uses the same cue).
    fused_index, fused = max(fusable, key=lambda item: (graph.depth.get(item[1], 0), -item[0]))
    skip_index, skip = next((i, name) for i, name in inputs if i != fused_index)
    plan.quantize(skip, add.name, skip_index, "residual skip input of Add (TRT: quantize the residual input)")
    plan.residual_adds[add.name] = {"fused": fused, "skip": skip}


def _fuses_into_producer(graph: GraphIndex, tensor: str, quantized_ops: set) -> bool:
    producer = graph.producers.get(tensor)
    single_use = len(graph.consumers.get(tensor, [])) == 1 and tensor not in graph.graph_outputs
    return (producer is not None and producer.name in quantized_ops and producer.op_type in RESIDUAL_FUSERS
            and single_use)


def _concat_scale_groups(graph: GraphIndex, plan: QdqPlan) -> list[set]:
    # TRT guide, "Q/DQ Propagation": a Q is moved backward across Concat only when every Concat
    # input is quantized with the same scale; otherwise the Concat runs in float between
    # requantizations. ModelOpt `get_concat_eliminated_tensors` unifies them the same way.
    groups: list[set] = []
    for node in graph.model.graph.node:
        if node.op_type != "Concat":
            continue
        members = {name for name in [*node.input, *node.output] if name in plan.activations}
        if len(members) < 2:
            continue
        overlapping = [g for g in groups if g & members]
        merged = set(members).union(*overlapping)
        groups = [g for g in groups if not (g & members)] + [merged]
    return groups
