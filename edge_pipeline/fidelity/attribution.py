"""Per compute layer, its time as the runtime's own profiler measured it in context, with the runtime
work that exists only to serve it counted as its own.

An INT8 layer costs more than its kernel: the quantize that makes its input, the dequantize that
reads its result back, the reorders into and out of the kernel's layout. Each such op is given to
the nearest compute layer by graph adjacency: a quantize (or a reorder into a layout) to the layer
it feeds, a dequantize (or a reorder out of one) to the layer that produced its input. A walk passes
through ops that only move values (a max-pool, a reshape) and stops at any other op. One op that
serves several layers (a quantize feeding two convolutions) is shared among them evenly.
"""

from __future__ import annotations

from dataclasses import dataclass

from edge_pipeline.backends.base import ExecutedNode, LayerProfile

# Runtime ops that put an operand into the form a compute kernel reads: counted to the layer they feed.
FEEDS = {"QuantizeLinear", "DynamicQuantizeLinear", "ReorderInput", "FakeQuantize"}
# Runtime ops that turn a compute layer's result back: counted to the layer that produced their input.
PRODUCED = {"DequantizeLinear", "ReorderOutput"}
# Layout changes the runtime inserts on either side (OpenVINO's Reorder, ORT's NHWC Transposes around
# QLinearConv): the layer they feed, else the layer they read from.
EITHER = {"Reorder", "Transpose"}
RUNTIME_GLUE = FEEDS | PRODUCED | EITHER
# What a walk from a glue op passes through on its way to a layer: ops that move or pick values in
# whatever precision their neighbours run.
_PASSED = RUNTIME_GLUE | {"MaxPool", "NhwcMaxPool", "Pooling", "Reshape", "Flatten", "Squeeze", "Unsqueeze",
                          "Identity"}
MAX_HOPS = 4  # a glue op further than this from any compute layer serves none in particular


@dataclass(frozen=True)
class LayerCost:
    """One compute layer's time per inference: its own kernel and its share of the glue around it."""

    name: str  # the runtime's name
    op_type: str
    precision: str  # "int8" or "float"
    aliases: tuple[str, ...]
    own_ms: float
    around_ms: float  # the quantize/dequantize/reorder work counted as this layer's

    @property
    def total_ms(self) -> float:
        return self.own_ms + self.around_ms


def layer_costs(profile: LayerProfile, graph: list[ExecutedNode]) -> list[LayerCost]:
    """Every compute layer of ``graph`` the profiler timed, per inference, in graph order."""
    runs = max(profile.runs, 1)
    times: dict[str, float] = {}
    for layer in profile.layers:
        times[layer.name] = times.get(layer.name, 0.0) + layer.total_ms / runs
    nodes = {node.name: node for node in graph}
    consumers: dict[str, list[str]] = {}
    for node in graph:
        for source in node.inputs:
            consumers.setdefault(source, []).append(node.name)
    around: dict[str, float] = {}
    for node in graph:
        if node.op_type not in RUNTIME_GLUE or node.name not in times:
            continue
        owners = owners_of(node, nodes, consumers)
        for owner in owners:
            around[owner] = around.get(owner, 0.0) + times[node.name] / len(owners)
    return [LayerCost(node.name, node.op_type, node.precision, node.aliases, times[node.name],
                      around.get(node.name, 0.0))
            for node in graph if node.precision and node.name in times]


def owners_of(node: ExecutedNode, nodes: dict[str, ExecutedNode], consumers: dict[str, list[str]]) -> list[str]:
    """The compute layers a glue op serves (see the module's rules); empty where none is near."""
    downstream = _reached(node.name, lambda name: consumers.get(name, ()), nodes)
    upstream = _reached(node.name, lambda name: nodes[name].inputs if name in nodes else (), nodes)
    if node.op_type in PRODUCED:
        return upstream or downstream
    return downstream or upstream


def _reached(start: str, neighbours, nodes: dict[str, ExecutedNode]) -> list[str]:
    """Every compute layer a breadth-first walk from ``start`` reaches through passed-through ops
    (never through a compute layer) within MAX_HOPS."""
    found: list[str] = []
    frontier, seen = [start], {start}
    for _ in range(MAX_HOPS):
        following = []
        for name in frontier:
            for other in neighbours(name):
                node = nodes.get(other)
                if node is None or other in seen:
                    continue
                seen.add(other)
                if node.precision:
                    found.append(other)
                elif node.op_type in _PASSED:
                    following.append(other)
        if not following:
            break
        frontier = following
    return found
