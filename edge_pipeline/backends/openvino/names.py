"""ONNX names in a recipe (``quantize.exclude_op_types``, ``exclude_nodes``, the fallback's
``keep_float``) mapped onto the operations of the OpenVINO model converted from that ONNX.

A recipe names what to keep float once, in ONNX terms, for every backend. ONNX Runtime and the
TensorRT Q/DQ path read ONNX names as they are; here:

- an op type becomes the OpenVINO types its conversion makes (``LSTM`` -> ``LSTMSequence``),
  read from ONNX_TO_OPENVINO_TYPES; OpenVINO's own type names are accepted as they are;
- a node becomes the operations its conversion made. The frontend names only the last of them
  after the node, or after its output tensor (``/lstm/LSTM`` is a Transpose after an unnamed
  ``LSTMSequence_84``; ``/conv/Conv`` is the bias Add after ``/conv/Conv/WithoutBiases``), so the
  node's operations are found by walking back from the ones that produce its output tensors
  until a tensor another ONNX node (or a graph input) owns.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import openvino as ov

# ONNX op type -> the OpenVINO op types its conversion makes (and later transformations keep).
ONNX_TO_OPENVINO_TYPES: dict[str, tuple[str, ...]] = {
    "Conv": ("Convolution", "GroupConvolution"),
    "ConvTranspose": ("ConvolutionBackpropData", "GroupConvolutionBackpropData"),
    "MatMul": ("MatMul",),
    "Gemm": ("MatMul",),
    "LSTM": ("LSTMSequence", "LSTMCell"),
    "GRU": ("GRUSequence", "GRUCell"),
    "RNN": ("RNNSequence", "RNNCell"),
    "Mul": ("Multiply",),
    "Add": ("Add",),
    "Sub": ("Subtract",),
    "Div": ("Divide",),
    "Pow": ("Power",),
    "Sum": ("Add",),
    "AveragePool": ("AvgPool",),
    "GlobalAveragePool": ("ReduceMean",),
    "GlobalMaxPool": ("ReduceMax",),
    "ReduceMean": ("ReduceMean",),
    "MaxPool": ("MaxPool",),
    "Resize": ("Interpolate",),
    "Upsample": ("Interpolate",),
    "Clip": ("Clamp",),
    "LeakyRelu": ("PRelu",),
    "PRelu": ("PRelu",),
    "HardSwish": ("HSwish",),
    "HardSigmoid": ("HSigmoid", "HardSigmoid"),
    "LayerNormalization": ("MVN",),
    "InstanceNormalization": ("MVN",),
    "Softmax": ("Softmax", "SoftMax"),
    "Gather": ("Gather",),
    "Einsum": ("Einsum",),
}


@dataclass(frozen=True)
class OnnxNames:
    """What the recipe's ONNX names refer to in the source graph."""

    op_types: frozenset[str]
    node_types: Mapping[str, str]  # node name -> op type
    node_outputs: Mapping[str, tuple[str, ...]]  # node name -> its output tensors
    consumers: Mapping[str, tuple[str, ...]]  # tensor -> the nodes reading it

    @classmethod
    def read(cls, path: Path) -> OnnxNames:
        import onnx

        graph = onnx.load(str(path), load_external_data=False).graph
        named = [node for node in graph.node if node.name]
        consumers: dict[str, list[str]] = {}
        for node in named:
            for tensor in node.input:
                consumers.setdefault(tensor, []).append(node.name)
        return cls(frozenset(n.op_type for n in graph.node), {n.name: n.op_type for n in named},
                   {n.name: tuple(o for o in n.output if o) for n in named},
                   {t: tuple(c) for t, c in consumers.items()})

    def downstream(self, node: str) -> list[str]:
        """Tensors made from ``node``'s outputs, nearest first."""
        order, queue, seen = [], list(self.node_outputs.get(node, ())), set()
        while queue:
            tensor = queue.pop(0)
            if tensor in seen:
                continue
            seen.add(tensor)
            order.append(tensor)
            for consumer in self.consumers.get(tensor, ()):
                queue += self.node_outputs.get(consumer, ())
        return order


def openvino_types(op_type: str, model_types: set[str]) -> list[str] | None:
    """The model's OpenVINO types for a recipe's op type (ONNX or OpenVINO spelling); None: no such type."""
    if op_type in model_types:
        return [op_type]
    mapped = [t for t in ONNX_TO_OPENVINO_TYPES.get(op_type, ()) if t in model_types]
    return mapped or None


def node_operations(model: ov.Model, name: str, onnx: OnnxNames | None) -> list[str]:
    """Friendly names of the operations the ONNX node ``name`` became (or the OpenVINO operation
    of that name and those named ``name/...``); empty when none is found."""
    ops = model.get_ordered_ops()
    found = {op.get_friendly_name() for op in ops
             if op.get_friendly_name() == name or op.get_friendly_name().startswith(f"{name}/")}
    if onnx is not None and name in onnx.node_types:
        region = _converted_from(ops, onnx.downstream(name))
        kinds = {onnx.node_types[name], *ONNX_TO_OPENVINO_TYPES.get(onnx.node_types[name], ())}
        # The region can reach into the nodes after this one where conversion merged them; its
        # operations of the node's own kind are the node, the rest only where there are none.
        own = {friendly for friendly, kind in region if kind in kinds}
        found |= own or {friendly for friendly, _ in region}
    return sorted(found)


def _converted_from(ops: list, downstream: list[str]) -> set[tuple[str, str]]:
    """(name, type) of the operations from the first surviving tensors at or after the node back to
    the tensors that are not made from it (its inputs, other branches)."""
    after = set(downstream)
    surviving = {name for op in ops for port in op.outputs() for name in port.get_names()}
    boundary = next(([t] for t in downstream if t in surviving), [])
    stack = [op for op in ops if any(set(boundary) & port.get_names() for port in op.outputs())]
    found: dict[str, str] = {}
    while stack:
        op = stack.pop()
        if op.get_friendly_name() in found or op.get_type_name() in ("Parameter", "Constant"):
            continue
        found[op.get_friendly_name()] = op.get_type_name()
        for port in op.inputs():
            source = port.get_source_output()
            names = source.get_names()
            if names and not names & after:
                continue  # a tensor not made from this node: the region's edge
            stack.append(source.get_node())
    return set(found.items())
