"""``torch.export`` program -> ``.pte``: FP32 lowered as it is, INT8 through PT2E (XNNPACKQuantizer,
prepare_pt2e, calibration on the recipe's samples, convert_pt2e), each lowered to the XNNPACK
delegate (or left to the portable kernels) and serialised with ExecuTorch's memory planning.

Beside each ``.pte`` goes ``<name>.pte.json`` (the format's required sidecar): the input names,
shapes and dtypes and the output names the program runs with (a ``.pte`` carries none of them), and
what the delegate took, from ExecuTorch's delegation info.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch

from edge_pipeline.backends.executorch.layers import Converted, remember
from edge_pipeline.backends.executorch.names import FloatPick
from edge_pipeline.backends.executorch.options import ExecuTorchOptions
from edge_pipeline.backends.executorch.runner import as_tensor
from edge_pipeline.errors import ConfigError, StageError

# ATen compute ops reported as layers (what ExecutedLayer's report counts); the rest are glue.
COMPUTE_OPS = {"convolution": "Conv", "linear": "Linear", "addmm": "Gemm", "mm": "MatMul", "bmm": "MatMul",
               "matmul": "MatMul"}


def program_path(onnx_path: Path) -> Path:
    """The ``torch.export`` program the export stage writes beside ``<model>.fp32.onnx``."""
    onnx_path = Path(onnx_path)
    return onnx_path.with_name(onnx_path.name.removesuffix(".onnx") + ".pt2")


def load_program(onnx_path: Path):
    path = program_path(onnx_path)
    if not path.is_file():
        raise ConfigError(
            f"the executorch backend lowers the model's torch.export program, and {path.name} is not beside "
            f"{Path(onnx_path).name}; give the recipe a PyTorch model (model.factory or model.checkpoint): an ONNX "
            "model has no torch program to lower")
    try:
        return torch.export.load(str(path))
    except Exception as exc:  # a damaged file: zip, pickle and torch errors alike
        raise StageError(f"torch.export program {path.name} does not load ({_first_line(exc)}); "
                         "delete the stage cache and run again") from exc


def io_names(onnx_path: Path) -> tuple[list[str], list[str]]:
    """The pipeline's input names (forward order) and output names (flattened return order), as the
    exported ONNX holds them: the names every backend's feeds and outputs use."""
    import onnx

    graph = onnx.load(str(onnx_path), load_external_data=False).graph
    initializers = {i.name for i in graph.initializer}
    return [i.name for i in graph.input if i.name not in initializers], [o.name for o in graph.output]


def example_args(program) -> tuple[torch.Tensor, ...]:
    """One zero (float) or one (integer) tensor per user input, at the program's own static shapes."""
    args = []
    for spec in program.graph_signature.input_specs:
        if spec.kind.name != "USER_INPUT":
            continue
        value = next(n for n in program.graph.nodes if n.op == "placeholder" and n.name == spec.arg.name).meta["val"]
        shape = [int(d) for d in value.shape]
        fill = torch.zeros if value.dtype.is_floating_point else torch.ones
        args.append(fill(shape, dtype=value.dtype))
    return tuple(args)


def lower_fp32(program, options: ExecuTorchOptions, out: Path, names: tuple[list[str], list[str]]) -> dict:
    return _lower(program, options, out, names, quantized=False)


def lower_int8(program, options: ExecuTorchOptions, out: Path, names: tuple[list[str], list[str]],
               feeds: Iterable[dict[str, np.ndarray]], exclude_op_types: list[str], float_names: list[str],
               onnx_path: Path) -> tuple[dict, Converted]:
    """PT2E INT8 calibrated on ``feeds`` (named; passed positionally in forward order), then lowered;
    its meta and the converted program (remembered for the per-layer view). ``float_names``: FP32
    ONNX node names (or torch module names) kept float."""
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    from edge_pipeline.backends.executorch.names import ProgramNames

    module = program.module()
    mapping = ProgramNames(onnx_path, module.graph)
    picks = {name: mapping.float_pick(name) for name in dict.fromkeys(float_names)}
    quantizer = _quantizer(options, exclude_op_types, list(picks.values()))
    example = example_args(program)
    prepared = prepare_pt2e(module, quantizer)
    seen = 0
    with torch.no_grad():
        for feed in feeds:
            args = _positional(feed, names[0], example)
            if args is None:
                continue  # a short last batch: the program's batch is fixed
            prepared(*args)
            seen += 1
    if not seen:
        raise StageError(f"no calibration batch matches the program's input shapes "
                         f"{[list(a.shape) for a in example]}; give data.calibration at least one full batch")
    converted = convert_pt2e(prepared)
    meta = _lower(_export(converted, example), options, out, names, quantized=True)
    view = Converted(converted, Path(onnx_path), names[0], example)
    remember(out, view)  # the fallback's layer view
    if picks:
        meta["kept_float"] = {name: pick.describe() for name, pick in picks.items()}
    return meta, view


# ONNX op types (what quantize.exclude_op_types names on every target) -> the torch modules made of them.
ONNX_MODULE_TYPES = {"Gemm": ["Linear"], "MatMul": ["Linear"], "Conv": ["Conv1d", "Conv2d", "Conv3d"],
                     "ConvTranspose": ["ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d"],
                     "LSTM": ["LSTM"], "GRU": ["GRU"]}


def _quantizer(options: ExecuTorchOptions, exclude_op_types: list[str], picks: list[FloatPick]):
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (
        XNNPACKQuantizer,
        get_symmetric_quantization_config,
    )

    if not options.symmetric:
        raise ConfigError("options.symmetric: false is not offered by ExecuTorch's XNNPACKQuantizer (its "
                          "activation ranges are symmetric int8); set it to true")
    class PostTrainingQuantizer(XNNPACKQuantizer):
        # prepare_pt2e folds each batch norm into its conv before annotating, so the QAT conv-bn
        # patterns never match here; each one costs an export of its pattern (seconds per attempt).
        SUPPORTED_PATTERNS = [p for p in XNNPACKQuantizer.SUPPORTED_PATTERNS if not p.is_qat]

        def transform_for_annotation(self, model):
            # Its pass turns each add/mul scalar into a float tensor constant; on integer index
            # arithmetic (Hugging Face's position ids) that makes the indices floats. Those nodes
            # move to the .Scalar overloads (the same op), which the pass leaves alone.
            _integer_scalar_ops_to_scalar_overloads(model)
            return super().transform_for_annotation(model)

    static = get_symmetric_quantization_config(is_per_channel=options.per_channel)
    quantizer = PostTrainingQuantizer().set_global(static)
    if options.dynamic_linear:
        dynamic = get_symmetric_quantization_config(is_per_channel=options.per_channel, is_dynamic=True)
        quantizer.set_module_type(torch.nn.Linear, dynamic)
    for op_type in exclude_op_types:  # torch module classes by name (Conv2d, Linear) or ONNX op types stay float
        for name in ONNX_MODULE_TYPES.get(op_type, [op_type]):
            module = getattr(torch.nn, name, None)
            if module is None:
                raise ConfigError(f"quantize.exclude_op_types '{op_type}' is not a torch.nn module type or an ONNX op "
                                  f"type the executorch backend maps ({', '.join(ONNX_MODULE_TYPES)}); name one "
                                  "(e.g. Conv2d, Linear)")
            quantizer.set_module_type(module, None)
    return quantizer.set_filter_function(_float_filter(picks))


def _integer_scalar_ops_to_scalar_overloads(model) -> None:
    scalar = {torch.ops.aten.add.Tensor: torch.ops.aten.add.Scalar,
              torch.ops.aten.mul.Tensor: torch.ops.aten.mul.Scalar}
    for node in model.graph.nodes:
        value = node.meta.get("val")
        if (node.op == "call_function" and node.target in scalar and isinstance(value, torch.Tensor)
                and not value.is_floating_point() and not isinstance(node.args[1], torch.fx.Node)):
            node.target = scalar[node.target]
    model.recompile()


def _float_filter(picks: list[FloatPick]):
    """True for the FX nodes PT2E may quantize: not in a module kept float, not an op kept float
    (XNNPACKQuantizer.set_module_name refuses None; a filter also reaches single ops), and not an op
    on a 0-d or integer tensor: a scalar input's arithmetic (XNNPACK's layout pass cannot index a
    quantized 0-d value) or index arithmetic (Hugging Face's position ids: an observed add would turn
    the indices an embedding reads into floats)."""
    from torchao.quantization.pt2e.quantizer import get_module_name_filter

    in_module = [get_module_name_filter(pick.module) for pick in picks if pick.module]
    ops = {pick.fx_node for pick in picks if not pick.module}

    def quantizable(node) -> bool:
        if node.name in ops or any(inside(node) for inside in in_module):
            return False
        return not any(_not_quantizable(value) for value in [node, *node.all_input_nodes])

    return quantizable


def _not_quantizable(node) -> bool:
    value = node.meta.get("val")
    return isinstance(value, torch.Tensor) and (value.dim() == 0 or not value.is_floating_point())


def _positional(feed: dict[str, np.ndarray], input_names: list[str], example: tuple) -> tuple | None:
    args = []
    for name, like in zip(input_names, example, strict=True):
        value = as_tensor(feed[name], like.dtype)
        if tuple(value.shape) != tuple(like.shape):
            return None
        args.append(value)
    return tuple(args)


def _export(module, example: tuple):
    try:
        return torch.export.export(module, example)
    except Exception as exc:  # the exporter raises many types; its first line names the construct
        raise StageError(f"torch.export cannot capture the model: {_first_line(exc)}") from exc


def _lower(program, options: ExecuTorchOptions, out: Path, names: tuple[list[str], list[str]],
           quantized: bool) -> dict:
    from executorch.exir import ExecutorchBackendConfig, to_edge_transform_and_lower
    from executorch.exir.memory_planning import MemoryPlanningAlgorithmSuite, greedy, naive
    from executorch.exir.passes import MemoryPlanningPass

    partitioners = []
    if options.delegate == "xnnpack":
        from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner

        partitioners.append(XnnpackPartitioner())
    try:
        edge = to_edge_transform_and_lower(program, partitioner=partitioners)
        delegation = delegation_report(edge.exported_program().graph_module, quantized)
        algo = MemoryPlanningAlgorithmSuite([greedy if options.memory_planning == "greedy" else naive])
        executorch_program = edge.to_executorch(ExecutorchBackendConfig(
            memory_planning_pass=MemoryPlanningPass(memory_planning_algo=algo)))
    except Exception as exc:  # an operator no delegate or kernel takes surfaces here, named in its first line
        raise StageError(f"ExecuTorch cannot lower the program ({options.delegate}): {_first_line(exc)}") from exc
    out.write_bytes(executorch_program.buffer)
    inputs = [{"name": name, "shape": list(arg.shape), "dtype": str(arg.dtype).removeprefix("torch.")}
              for name, arg in zip(names[0], example_args(program), strict=True)]
    sidecar = {"inputs": inputs, "outputs": names[1], "delegate": options.delegate, "delegation": delegation}
    Path(str(out) + ".json").write_text(json.dumps(sidecar, indent=1))
    return {"delegate": options.delegate, "delegation": delegation["summary"],
            "memory_planning": options.memory_planning}


def delegation_report(graph_module, quantized: bool) -> dict:
    """What the delegate took: ExecuTorch's delegation info by operator, and each compute layer with
    where it runs (xnnpack or portable) and in which precision."""
    from executorch.devtools.backend_debug import get_delegation_info

    info = get_delegation_info(graph_module)
    by_operator = {op: {"delegated": b.delegated, "portable": b.non_delegated}
                   for op, b in sorted(info.delegation_by_operator.items())}
    layers = [*_layers(graph_module, "portable")]
    for node in graph_module.graph.nodes:
        if node.op == "get_attr" and node.name.startswith("lowered_module"):
            lowered = getattr(graph_module, node.target)
            layers += _layers(lowered.original_module.graph_module, lowered.backend_id.removesuffix("Backend").lower(),
                              f"{node.name}/")
    summary = {"delegated_subgraphs": info.num_delegated_subgraphs, "delegated_nodes": info.num_delegated_nodes,
               "portable_nodes": info.num_non_delegated_nodes,
               "portable_operators": sorted(op for op, b in by_operator.items() if b["portable"])}
    return {"summary": summary, "by_operator": by_operator, "layers": layers, "quantized": quantized}


def _layers(graph_module, kernel: str, prefix: str = "") -> list[dict]:
    found = []
    for node in graph_module.graph.nodes:
        op = _aten_name(node)
        if node.op != "call_function" or op not in COMPUTE_OPS:
            continue
        # INT8 where every operand (activation and weight, not the bias) is dequantized: a layer
        # kept float still reads its quantized neighbour's dequantized output, with float weights.
        operands = node.args[1:3] if op == "addmm" else node.args[:2]
        int8 = all(isinstance(arg, torch.fx.Node) and "dequantize" in _target_name(arg) for arg in operands)
        found.append({"name": prefix + node.name, "op_type": COMPUTE_OPS[op], "precision": "int8" if int8 else "float",
                      "kernel": kernel})
    return found


def _target_name(node) -> str:
    return str(getattr(node.target, "__name__", node.target))


def _aten_name(node) -> str:
    """'convolution' for aten.convolution.default and its edge-dialect twin."""
    return _target_name(node).removeprefix("aten.").split(".")[0] if node.op == "call_function" else ""


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else exc.__class__.__name__
