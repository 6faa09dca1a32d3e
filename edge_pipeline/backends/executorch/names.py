"""The exported FP32 ONNX's names, led back to the ``torch.export`` program's FX nodes.

The fidelity fallback names layers by the FP32 ONNX (``quantize.keep_float``), and divergence
profiles compare tensors by its names; ExecuTorch quantizes the torch program. The pipeline's ONNX
(dynamo exporter, then onnxslim) carries no ``metadata_props`` (no name scopes or class hierarchy
survive), so names are matched on what does survive:

- a tensor named after its FX node: the exporter names each op's output after the FX node it
  translates (``linear_3``, ``matmul``, ``relu``). The exporter traces its own decomposed program,
  so only names whose whole family (``linear``, ``linear_1``, ...) exists in the torch program,
  made by the same kind of op, are trusted: a family renumbered by decompositions (``add_72``) is not;
- a node named ``node_<fx name>`` whose output was renamed (a graph output, ``logits``);
- convolutions by order (onnxslim folds a batch norm into the Conv and names its output after the
  norm), and a linear's weight MatMul by the Add that finishes it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from edge_pipeline.errors import ConfigError

# ONNX op types each ATen op is exported as; an op not listed matches the op type of its own name.
ONNX_TYPES = {
    "linear": {"Gemm", "MatMul", "Add"}, "addmm": {"Gemm"}, "matmul": {"MatMul"}, "bmm": {"MatMul"},
    "mm": {"MatMul", "Gemm"}, "conv1d": {"Conv"}, "conv2d": {"Conv"}, "conv3d": {"Conv"}, "convolution": {"Conv"},
    "conv_transpose1d": {"ConvTranspose"}, "conv_transpose2d": {"ConvTranspose"}, "gelu": {"Gelu", "Mul"},
    "layer_norm": {"LayerNormalization"}, "softmax": {"Softmax"}, "permute": {"Transpose"},
    "embedding": {"Gather"}, "hardtanh": {"Clip"}, "clamp": {"Clip"}, "mean": {"ReduceMean"},
    "adaptive_avg_pool1d": {"ReduceMean", "GlobalAveragePool"},
    "adaptive_avg_pool2d": {"ReduceMean", "GlobalAveragePool"},
    "silu": {"Mul", "Sigmoid"}, "view": {"Reshape"}, "reshape": {"Reshape"}, "flatten": {"Reshape", "Flatten"},
}
CONV_OPS = ("conv1d", "conv2d", "conv3d", "convolution")
_SUFFIX = re.compile(r"_\d+$")


@dataclass(frozen=True)
class FloatPick:
    """What keeps one ONNX node float in PT2E: its torch module (when the node is that built-in
    module's own op) or, for an op in a module's forward or the model's, the FX node itself."""

    module: str  # the module's qualified name ('' where the FX node is kept on its own)
    fx_node: str

    def describe(self) -> str:
        return f"module {self.module}" if self.module else f"op {self.fx_node}"


class ProgramNames:
    """FP32 ONNX names -> FX nodes of ``graph`` (the torch program's module graph, or the PT2E graph
    made from it: PT2E keeps the names of the nodes it quantizes)."""

    def __init__(self, onnx_path: Path, graph) -> None:
        import onnx

        self.model = onnx.load(str(onnx_path), load_external_data=False).graph
        self.fx = {n.name: n for n in graph.nodes if n.op == "call_function"}
        self.producers = {out: node for node in self.model.node for out in node.output}
        self.consumers: dict[str, list] = {}
        for node in self.model.node:
            for name in node.input:
                self.consumers.setdefault(name, []).append(node)
        self.trusted, self.untrusted = self._families()

    def tensor_node(self, tensor: str) -> str | None:
        """The FX node that computes the ONNX tensor ``tensor`` (same value), or None."""
        producer = self.producers.get(tensor)
        fx = self.fx.get(tensor)
        if producer is None or fx is None or _family(tensor) not in self.trusted:
            return None
        return tensor if _compatible(fx, producer.op_type) else None

    def float_pick(self, name: str) -> FloatPick:
        """How to keep the ONNX node (or torch module) ``name`` float; a ConfigError naming it where
        it leads to no FX node of the program."""
        node = next((n for n in self.model.node if n.name == name), None)
        fx = self._fx_of(node) if node is not None else None
        if fx is not None:
            return _pick(self.fx[fx])
        if any(name == path for n in self.fx.values() for path in _module_paths(n)):
            return FloatPick(name, "")  # a torch module's own name (features.0, head.fc)
        what = "an ONNX node of the exported model" if node is not None else "no ONNX node or torch module"
        raise ConfigError(f"quantize.keep_float/exclude_nodes '{name}' is {what} that leads to no op of the torch "
                          "program ExecuTorch quantizes; name a compute node of the FP32 ONNX or a torch module "
                          "(e.g. features.0)")

    def _fx_of(self, node) -> str | None:
        for out in node.output:
            if self.tensor_node(out):
                return out
        stripped = node.name.removeprefix("node_")
        if (stripped in self.fx and _family(stripped) not in self.untrusted
                and _compatible(self.fx[stripped], node.op_type)):
            return stripped
        if node.op_type in ("Conv", "ConvTranspose"):
            return self._conv_by_order(node)
        if node.op_type == "MatMul":  # a linear's weight product, finished by the Add named after it
            for consumer in self.consumers.get(node.output[0], []):
                if consumer.op_type == "Add":
                    fx = self._fx_of(consumer)
                    if fx is not None and _aten(self.fx[fx]) == "linear":
                        return fx
        return None

    def _conv_by_order(self, node) -> str | None:
        onnx_convs = [n.name for n in self.model.node if n.op_type == node.op_type]
        fx_convs = [n for n in self.fx if _aten(self.fx[n]).startswith("conv_transpose" if node.op_type ==
                                                                         "ConvTranspose" else CONV_OPS)]
        if len(onnx_convs) != len(fx_convs):
            return None  # a conv folded or split on one side: order proves nothing
        return fx_convs[onnx_convs.index(node.name)]

    def _families(self) -> tuple[set[str], set[str]]:
        """Name families whose every ONNX tensor is an FX node of the program made by a matching op
        (trusted), and those with a tensor that is not (renumbered: no name in them is trusted)."""
        families: dict[str, list[str]] = {}
        for tensor in self.producers:
            families.setdefault(_family(tensor), []).append(tensor)
        trusted = {family for family, tensors in families.items()
                   if all(t in self.fx and _compatible(self.fx[t], self.producers[t].op_type) for t in tensors)}
        return trusted, set(families) - trusted


def _family(name: str) -> str:
    return _SUFFIX.sub("", name)


def _aten(fx_node) -> str:
    """'linear' for aten.linear.default."""
    target = getattr(fx_node.target, "__name__", str(fx_node.target))
    return target.removeprefix("aten.").split(".")[0]


def _compatible(fx_node, op_type: str) -> bool:
    op = _aten(fx_node).removesuffix("_")
    return op_type in ONNX_TYPES.get(op, {op_type} if op.replace("_", "") == op_type.lower() else set())


def _module_paths(fx_node) -> list[str]:
    return [path for path, _ in fx_node.meta.get("nn_module_stack", {}).values()]


def _pick(fx_node) -> FloatPick:
    """The innermost module when the node is a built-in torch layer's own op (a Linear's linear),
    else the node alone: keeping a whole block float for one of its ops would cost its every layer."""
    stack = list(fx_node.meta.get("nn_module_stack", {}).values())
    if stack:
        path, kind = stack[-1]
        qualified = kind if isinstance(kind, str) else f"{kind.__module__}.{kind.__qualname__}"
        if path and qualified.startswith("torch.nn.modules."):
            return FloatPick(path, fx_node.name)
    return FloatPick("", fx_node.name)
