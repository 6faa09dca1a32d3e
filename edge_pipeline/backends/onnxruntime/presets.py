"""What ONNX Runtime INT8 quantizes in a given graph: the preset's op scope, the nodes kept in float
(and why), and the calibrated ranges no INT8 scale can hold.

ORT's quantizer takes ``op_types_to_quantize`` and ``nodes_to_exclude``; this module decides both
from the graph (``backends/onnx_graph.py``) and the recipe, so the artifact's meta can say, per
node, why it stayed float.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from edge_pipeline.backends.onnx_graph import ATTENTION_FLOAT, TRANSFORMER_SCOPE, analyse_graph
from edge_pipeline.calibration.statistics import LARGEST_CREDIBLE_RANGE
from edge_pipeline.errors import ConfigError


@dataclass
class QuantPlan:
    preset: str  # "cnn" or "transformer"
    op_types: list[str] | None  # None: ORT's default scope (every op it can quantize)
    float_nodes: dict[str, str] = field(default_factory=dict)  # node -> reason

    def excluded(self) -> list[str]:
        return sorted(self.float_nodes)


def plan_for(model, config) -> QuantPlan:
    """The preset resolved from the graph, the op scope, and the float nodes: the preset's, the
    recipe's exclude_nodes / exclude_op_types (names checked first, one-line errors)."""
    _check_exclusions(model, config.exclude_nodes, config.exclude_op_types)
    traits = analyse_graph(model)
    preset = config.preset if config.preset != "auto" else ("transformer" if traits.is_transformer else "cnn")
    op_types = list(config.op_types) if config.op_types is not None else (
        list(TRANSFORMER_SCOPE) if preset == "transformer" else None)
    if op_types is not None:
        _check_op_types(model, op_types)
    plan = QuantPlan(preset, op_types)
    if preset == "transformer":
        plan.float_nodes.update(traits.float_nodes)
    for name in config.exclude_nodes:
        plan.float_nodes[name] = "quantize.exclude_nodes"
    names = {node.name for node in model.graph.node}
    attention = set(traits.attention_matmuls)
    for name in config.keep_float:
        if name in names:
            plan.float_nodes[name] = (ATTENTION_FLOAT if name in attention
                                      else "quantize.keep_float: the fidelity fallback's pick (it measurably moved the "
                                      "output) or latency-aware placement's (meta.placement says which)")
    for node in model.graph.node:
        if node.op_type in config.exclude_op_types:
            plan.float_nodes[node.name] = f"quantize.exclude_op_types {node.op_type}"
    return plan


def is_transformer(model, config) -> bool:
    """Whether the preset for ``model`` under ``config`` is the transformer one."""
    return config.preset == "transformer" or (config.preset == "auto" and analyse_graph(model).is_transformer)


def _check_exclusions(model, names: list[str], op_types: list[str]) -> None:
    all_names = [n.name for n in model.graph.node]
    missing = [n for n in names if n not in all_names]
    if missing:
        sample = ", ".join(all_names[:5])
        raise ConfigError(
            f"quantize.exclude_nodes {missing} match no node in the model; node names look like: {sample}"
        )
    unknown_types = set(op_types) - {n.op_type for n in model.graph.node}
    if unknown_types:
        raise ConfigError(
            f"quantize.exclude_op_types {sorted(unknown_types)} match no node; the model's op types are "
            f"{sorted({n.op_type for n in model.graph.node})}"
        )


def _check_op_types(model, op_types: list[str]) -> None:
    present = {n.op_type for n in model.graph.node}
    if not present & set(op_types):
        raise ConfigError(f"quantize.op_types {op_types} match no node; the model's op types are {sorted(present)}")


def exclude_unbounded(model, plan: QuantPlan, ranges: dict[str, tuple[float, float]]) -> dict[str, list[float]]:
    """Keep in float every in-scope node that reads or writes a tensor whose calibrated range is not
    finite or beyond LARGEST_CREDIBLE_RANGE; returns those tensors and their ranges."""
    unbounded = {name: [low, high] for name, (low, high) in ranges.items() if not _credible(low, high)}
    for node in model.graph.node:
        if plan.op_types is not None and node.op_type not in plan.op_types:
            continue
        touched = [t for t in (*node.input, *node.output) if t in unbounded]
        if touched and node.name not in plan.float_nodes:
            low, high = unbounded[touched[0]]
            plan.float_nodes[node.name] = (f"calibrated range of '{touched[0]}' is [{low:.3g}, {high:.3g}]: "
                                           "no INT8 scale holds it")
    return unbounded


def _credible(low: float, high: float) -> bool:
    return math.isfinite(low) and math.isfinite(high) and max(abs(low), abs(high)) <= LARGEST_CREDIBLE_RANGE
