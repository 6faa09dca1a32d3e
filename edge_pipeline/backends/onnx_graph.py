"""What an ONNX graph is, read from its structure, for the backends' quantization presets.

A transformer is found by its attention: a Softmax fed (through scaling, bias and mask ops) by a
MatMul of two activations. In one, INT8 keeps in float what every transformer quantization
recipe does (ONNX Runtime's, NNCF's transformer mode, ModelOpt's): the attention mask's arithmetic
(its calibration range is the float type's lowest value, which leaves no resolution for anything
else), the ops that add the mask to the scores, Softmax, LayerNormalization and embedding lookups.

Only ``onnx`` protobuf objects are read; nothing here imports a runtime.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from edge_pipeline.backends.base import FallbackStrategy

# Ops allowed between the scores MatMul and the Softmax (scale, bias, mask, cast).
_SCORE_PATH_OPS = {"Add", "Sub", "Mul", "Div", "Where", "Cast"}
_INTEGER_TYPES = {6, 7, 9, 2, 3, 4, 5, 12, 13}  # int32, int64, bool, uint8, int8, uint16, int16, uint32, uint64
TRANSFORMER_SCOPE = ("MatMul", "Gemm", "Conv")


@dataclass(frozen=True)
class GraphTraits:
    attention_softmax: list[str] = field(default_factory=list)  # Softmax nodes that take attention scores
    float_nodes: dict[str, str] = field(default_factory=dict)  # node name -> why a transformer keeps it float
    attention_matmuls: list[str] = field(default_factory=list)  # Q @ K^T and probabilities @ V MatMuls

    @property
    def is_transformer(self) -> bool:
        return bool(self.attention_softmax)


def analyse_graph(model) -> GraphTraits:
    graph = model.graph
    constants = _constant_tensors(graph)
    producers = {out: node for node in graph.node for out in node.output}
    scores = {n.name: _scores_from_matmul(n, producers, constants) for n in graph.node if n.op_type == "Softmax"}
    softmax = [name for name, matmul in scores.items() if matmul]
    if not softmax:
        return GraphTraits()
    consumers: dict[str, list] = {}
    for node in graph.node:
        for tensor in node.input:
            consumers.setdefault(tensor, []).append(node)
    by_name = {n.name: n for n in graph.node}
    matmuls = [scores[name] for name in softmax]  # Q @ K^T
    matmuls += [c.name for name in softmax for c in consumers.get(by_name[name].output[0], [])
                if c.op_type == "MatMul" and all(i not in constants for i in c.input[:2])]  # probabilities @ V
    floats: dict[str, str] = {}
    mask_only = _mask_only_tensors(graph, constants)
    for node in graph.node:
        reason = _float_reason(node, mask_only, constants)
        if reason is not None:
            floats[node.name] = reason
    return GraphTraits(softmax, floats, list(dict.fromkeys(matmuls)))


ATTENTION_FLOAT = "attention MatMul (activation x activation): the fallback's attention-kept-float strategy"


def attention_float_strategy(traits: GraphTraits, config) -> FallbackStrategy | None:
    """The attention MatMuls (Q @ K^T, probabilities @ V) kept float while the projections stay INT8:
    both operands are activations, calibrated per tensor, so their INT8 error multiplies; the
    projections, with per-channel weights, lose little. None where the graph has no attention or
    they are float already. Names go through ``keep_float``, which every backend honours."""
    matmuls = [name for name in traits.attention_matmuls
               if name not in {*config.keep_float, *config.exclude_nodes}]
    if not matmuls:
        return None
    return FallbackStrategy(f"attention kept float ({len(matmuls)} activation x activation MatMuls)",
                            {"keep_float": [*config.keep_float, *matmuls]})


def _constant_tensors(graph) -> set[str]:
    names = {i.name for i in graph.initializer}
    names |= {out for n in graph.node if n.op_type in ("Constant", "ConstantOfShape") for out in n.output}
    return names


def _scores_from_matmul(softmax, producers: dict, constants: set[str], depth: int = 6) -> str | None:
    """The activation x activation MatMul (Q @ K^T) reached walking back from the Softmax through
    score-path ops, or None."""
    frontier = [t for t in softmax.input if t not in constants]
    for _ in range(depth):
        next_frontier = []
        for tensor in frontier:
            node = producers.get(tensor)
            if node is None:
                continue
            if node.op_type == "MatMul" and all(i not in constants for i in node.input[:2]):
                return node.name
            if node.op_type in _SCORE_PATH_OPS:
                next_frontier += [t for t in node.input if t not in constants]
        frontier = next_frontier
    return None


def _mask_only_tensors(graph, constants: set[str]) -> set[str]:
    """Tensors computed from integer graph inputs (masks, ids, their shapes) and constants alone.
    An embedding Gather turns ids into activations, so its output is not one."""
    tensors = {i.name for i in graph.input if i.type.tensor_type.elem_type in _INTEGER_TYPES}
    for node in graph.node:  # ONNX graphs are topologically sorted
        live = [t for t in node.input if t and t not in constants]
        if not live or not all(t in tensors for t in live):
            continue
        if node.op_type == "Gather" and node.input[0] in constants:
            continue
        tensors.update(node.output)
    return tensors


def _float_reason(node, mask_only: set[str], constants: set[str]) -> str | None:
    live = [t for t in node.input if t and t not in constants]
    if node.op_type == "Softmax":
        return "Softmax: attention probabilities"
    if node.op_type == "LayerNormalization":
        return "LayerNormalization"
    if node.op_type == "Gather" and node.input[0] in constants:
        return "embedding lookup"
    if live and all(t in mask_only for t in live):
        return "attention-mask arithmetic (its range holds the float type's lowest value)"
    if any(t in mask_only for t in live):
        return "applies the attention mask"
    return None


def ensure_node_names(model) -> list[str]:
    """Give every node a unique name (``<op>_<position>`` where it has none or repeats one): exclusion
    lists, the fallback's picks and reports address nodes by name. Returns the names it gave."""
    seen: set[str] = set()
    given = []
    for position, node in enumerate(model.graph.node):
        if not node.name or node.name in seen:
            node.name = f"{node.op_type}_{position}"
            given.append(node.name)
        seen.add(node.name)
    return given
