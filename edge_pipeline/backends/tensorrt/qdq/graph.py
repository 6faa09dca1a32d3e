"""Read-only views of an ONNX graph that the placement rules need: producers, consumers, depth."""

from __future__ import annotations

from dataclasses import dataclass

import onnx
from onnx import numpy_helper


@dataclass
class GraphIndex:
    model: onnx.ModelProto
    producers: dict  # tensor -> node that writes it
    consumers: dict  # tensor -> [(node, input index)]
    initializers: dict  # name -> TensorProto
    graph_outputs: set
    depth: dict  # tensor -> longest path (in nodes) from a graph input

    @classmethod
    def build(cls, model: onnx.ModelProto) -> GraphIndex:
        graph = model.graph
        producers, consumers = {}, {}
        for node in graph.node:
            for output in node.output:
                producers[output] = node
            for index, name in enumerate(node.input):
                if name:
                    consumers.setdefault(name, []).append((node, index))
        initializers = {init.name: init for init in graph.initializer}
        index = cls(model, producers, consumers, initializers, {o.name for o in graph.output}, {})
        index.depth = index._depths()
        return index

    def is_constant(self, tensor: str) -> bool:
        producer = self.producers.get(tensor)
        return tensor in self.initializers or (producer is not None and producer.op_type == "Constant")

    def constant_value(self, tensor: str):
        if tensor in self.initializers:
            return numpy_helper.to_array(self.initializers[tensor])
        producer = self.producers.get(tensor)
        if producer is not None and producer.op_type == "Constant":
            return numpy_helper.to_array(producer.attribute[0].t)
        return None

    def activation_inputs(self, node) -> list[tuple[int, str]]:
        return [(i, name) for i, name in enumerate(node.input) if name and not self.is_constant(name)]

    def _depths(self) -> dict:
        depth: dict[str, int] = {}
        for node in self.model.graph.node:  # ONNX requires topological order
            level = 1 + max((depth.get(name, 0) for name in node.input if name), default=0)
            for output in node.output:
                depth[output] = level
        return depth


def attribute(node, name: str, default=None):
    for attr in node.attribute:
        if attr.name == name:
            return onnx.helper.get_attribute_value(attr)
    return default
