"""TensorRT's INT8 path: explicit Q/DQ placed in the ONNX (symmetric int8, per-channel weights), checked
against TensorRT's rules. Needs onnx and onnxruntime (calibration); the engine runner never imports this."""

from __future__ import annotations

import math
from pathlib import Path

import onnx

from edge_pipeline.artifacts.atomic import atomic_path, write_json
from edge_pipeline.backends.base import ProducedArtifact
from edge_pipeline.backends.onnx_graph import ensure_node_names
from edge_pipeline.backends.tensorrt.backend import SIMULATED_VARIANT, STATISTICS_KIND
from edge_pipeline.backends.tensorrt.calibration import activation_amax, collect_statistics, statistics_were_cached
from edge_pipeline.backends.tensorrt.options import tensorrt_options
from edge_pipeline.backends.tensorrt.qdq.checks import check_tensorrt_qdq
from edge_pipeline.backends.tensorrt.qdq.insert import insert_qdq
from edge_pipeline.backends.tensorrt.qdq.placement import QdqPlan, plan_qdq
from edge_pipeline.calibration.footprint import Budget
from edge_pipeline.calibration.statistics import LARGEST_CREDIBLE_RANGE
from edge_pipeline.errors import ConfigError, StageError


def quantize_qdq(onnx_path: Path, dataset, config, target, out_dir: Path) -> list[ProducedArtifact]:
    """The Q/DQ INT8 model (and its calibration statistics) for ``target``, checked against TensorRT's rules."""
    check_quantize_config(config, target)
    options = tensorrt_options(target)
    model = onnx.load(str(onnx_path))
    ensure_node_names(model)
    _check_exclusions(model, config)
    check_no_weighted_subgraphs(model)
    attention = attention_matmuls(model, config)
    plan = plan_qdq(model, [*config.exclude_nodes, *config.keep_float], config.exclude_op_types,
                    options.min_channels, attention)
    tensors = sorted(plan.activations)
    reused = statistics_were_cached(model, tensors, dataset, config.samples, config.num_bins)
    statistics = collect_statistics(model, tensors, dataset, config.samples, config.num_bins,
                                    Budget.for_config(config), f"target '{target.metadata.name}'")
    amax = activation_amax(statistics, config.method, config.percentile)
    unusable = {t: v for t, v in amax.items() if not (math.isfinite(v) and v <= LARGEST_CREDIBLE_RANGE)}
    if unusable:
        # A mask's -inf or an overflowing tensor has no INT8 scale: its consumers stay float.
        consumers = sorted({node for t in unusable for node, _ in plan.activations[t]})
        plan = plan_qdq(model, [*config.exclude_nodes, *config.keep_float, *consumers], config.exclude_op_types,
                        options.min_channels, frozenset(attention - set(consumers)))
        for node in consumers:
            plan.float_nodes[node] = "an input's calibrated range is not finite or beyond 1e6"
    quantized = insert_qdq(model, plan, amax)
    report = check_tensorrt_qdq(quantized)
    if not report.ok:
        raise StageError(f"the Q/DQ model breaks TensorRT's rules: {report.problems[:3]}")
    out_dir = Path(out_dir)
    model_path = out_dir / "model.int8.qdq.onnx"
    with atomic_path(model_path) as tmp:
        onnx.save(quantized, str(tmp))
    onnx.checker.check_model(str(model_path))
    stats_path = out_dir / "calibration_statistics.npz"
    with atomic_path(stats_path) as tmp:
        statistics.save(tmp)
    write_json(out_dir / "qdq_plan.json", plan_record(plan))
    calibration = {
        "method": config.method,
        "samples": statistics.samples,
        "num_bins": config.num_bins,
        "statistics": "re-used from an earlier target in this run" if reused else "collected",
    }
    meta = {
        "format": "onnx-qdq (TensorRT explicit quantization)",
        "activation_type": "int8",
        "activation_symmetric": True,
        "zero_point": 0,
        "weight_type": "int8",
        "per_channel": "output-channel axis",
        "calibration": calibration,
        "qdq": report.as_dict(),
        "float_nodes": plan.float_nodes,
        "attention_matmuls_quantized": sorted(attention),
        "input_value_ranges": observed_value_ranges(model, dataset),
        "accuracy_here": f"{SIMULATED_VARIANT}: the Q/DQ model run in ONNX Runtime, not a TensorRT measurement",
    }
    statistics_meta = {
        "tensors": len(statistics.tensors),
        "calibration": calibration,
        "derive": "edge_pipeline.calibration.statistics.CalibrationStatistics.load(path).ranges(method, symmetric)",
    }
    return [
        ProducedArtifact(model_path, "onnx", "int8", meta=meta),
        ProducedArtifact(stats_path, STATISTICS_KIND, "int8", variant="calibration-statistics",
                         meta=statistics_meta),
    ]


def attention_matmuls(model: onnx.ModelProto, config) -> frozenset[str]:
    """The attention MatMuls to give Q/DQ: those the graph has under the transformer preset (auto:
    when attention is found), none under cnn."""
    from edge_pipeline.backends.onnx_graph import analyse_graph

    if config.preset == "cnn":
        return frozenset()
    traits = analyse_graph(model)
    if config.preset == "auto" and not traits.is_transformer:
        return frozenset()
    return frozenset(traits.attention_matmuls)


def check_quantize_config(config, target) -> None:
    """TensorRT's INT8 is signed and symmetric with per-channel weights; refuse anything else early."""
    name = target.metadata.name
    if config.activations != "static":
        raise ConfigError(f"target '{name}': TensorRT's explicit quantization needs static Q/DQ scales; "
                          "remove quantize.activations: dynamic")
    if config.activation_type == "uint8":
        raise ConfigError(
            f"target '{name}': quantize.activation_type uint8 is not TensorRT INT8; set it to int8 (or auto)"
        )
    if config.symmetric_activations is False:
        raise ConfigError(
            f"target '{name}': TensorRT needs symmetric activations (zero-point 0); "
            "remove quantize.symmetric_activations: false"
        )
    if not config.per_channel:
        raise ConfigError(
            f"target '{name}': the TensorRT Q/DQ model quantizes weights per channel; set quantize.per_channel: true"
        )


WEIGHTED_SUBGRAPH_OPS = ("Conv", "ConvTranspose", "MatMul", "Gemm")


def check_no_weighted_subgraphs(model: onnx.ModelProto) -> None:
    """The Q/DQ placement works on the main graph: weighted ops inside If/Loop/Scan bodies would
    stay float while the artifact claims INT8, so such a model fails here, naming the node."""
    for node in model.graph.node:
        for attribute in node.attribute:
            bodies = ([attribute.g] if attribute.type == onnx.AttributeProto.GRAPH else list(attribute.graphs))
            weighted = sorted({n.op_type for body in bodies for n in body.node if n.op_type in WEIGHTED_SUBGRAPH_OPS})
            if weighted:
                raise StageError(
                    f"node '{node.name}' ({node.op_type}) holds {', '.join(weighted)} inside its '{attribute.name}' "
                    "subgraph, which TensorRT Q/DQ placement does not reach; fold the control flow at export "
                    "(fixed shapes, onnxslim) or exclude this target"
                )


def _check_exclusions(model: onnx.ModelProto, config) -> None:
    names = {n.name for n in model.graph.node}
    missing = [n for n in config.exclude_nodes if n not in names]
    if missing:
        raise ConfigError(
            f"quantize.exclude_nodes {missing} match no node; node names look like: {', '.join(sorted(names)[:5])}"
        )


def plan_record(plan: QdqPlan) -> dict:
    return {
        "quantized_tensors": {
            t: {"consumers": [list(c) for c in uses], "rule": plan.reasons[t]} for t, uses in plan.activations.items()
        },
        "weights": [{"node": w.node, "tensor": w.tensor, "axis": w.axis, "channels": w.channels} for w in plan.weights],
        "float_nodes": plan.float_nodes,
        "residual_adds": plan.residual_adds,
        "shared_scale_groups": [sorted(g) for g in plan.scale_groups],
    }


def observed_value_ranges(model: onnx.ModelProto, dataset) -> dict[str, list[int]]:
    """[min, max + 1) of each integer graph input over the calibration data, for the device
    benchmark's synthetic feeds. Calibration already ran on this data, so it names the inputs."""
    initializers = {i.name for i in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in initializers]
    arrays = dataset.named_for([i.name for i in inputs]) if len(dataset) else {}
    ranges = {}
    for graph_input in inputs:
        values = arrays.get(graph_input.name)
        if values is not None and values.dtype.kind in "iu" and values.size:
            ranges[graph_input.name] = [int(values.min()), int(values.max()) + 1]
    return ranges
