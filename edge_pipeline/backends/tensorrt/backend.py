"""TensorRT: explicit Q/DQ INT8 ONNX (the one INT8 path TensorRT 10.x and 11.x both accept),
engine build and benchmark where TensorRT and a GPU are present, and a Jetson device bundle.

The backend itself needs only onnx and onnxruntime: the Q/DQ model and the bundle are made on any
machine. Its accuracy here comes from running the Q/DQ model in ONNX Runtime, reported under the
runtime variant ``ort-simulated`` -- a simulation of TensorRT's INT8 arithmetic, never a TensorRT
figure. Engine rows (variant ``tensorrt``) exist only where an engine was built.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np
import onnx

from edge_pipeline.artifacts.atomic import atomic_path, write_json
from edge_pipeline.artifacts.hashing import sha256_file
from edge_pipeline.backends.base import Backend, DeviceStep, ProducedArtifact, Runner, RunnerOptions
from edge_pipeline.backends.onnx_graph import ensure_node_names
from edge_pipeline.backends.tensorrt.calibration import activation_amax, collect_statistics, statistics_were_cached
from edge_pipeline.backends.tensorrt.engine import (
    ENGINE_KIND,
    build_engine_artifact,
    engine_material,
    engine_unavailable_reason,
    tensorrt_version,
)
from edge_pipeline.backends.tensorrt.options import TensorRtOptions, build_plan, tensorrt_options
from edge_pipeline.backends.tensorrt.qdq.checks import check_tensorrt_qdq
from edge_pipeline.backends.tensorrt.qdq.insert import insert_qdq
from edge_pipeline.backends.tensorrt.qdq.placement import QdqPlan, plan_qdq
from edge_pipeline.errors import ConfigError, StageError

SIMULATED_VARIANT = "ort-simulated"
ENGINE_VARIANT = "tensorrt"
STATISTICS_KIND = "calibration-statistics"
BUNDLE_KIND = "tensorrt-device-bundle"


class TensorRtBackend(Backend):
    name = "tensorrt"
    runs_exported_onnx = True

    @classmethod
    def versions(cls) -> dict[str, str]:
        import onnxruntime

        found = {"onnx": onnx.__version__, "onnxruntime": onnxruntime.__version__}
        found["tensorrt"] = tensorrt_version() or "not installed"
        try:
            found["cuda-python"] = version("cuda-python")
        except PackageNotFoundError:
            pass
        return found

    def runner(self, path: Path, options: RunnerOptions) -> Runner:
        if Path(path).suffix in (".engine", ".plan"):
            from edge_pipeline.backends.tensorrt.engine import TensorRtEngineRunner

            return TensorRtEngineRunner(path, options)
        from edge_pipeline.backends.onnxruntime.runner import OnnxRuntimeRunner

        return OnnxRuntimeRunner(path, options)

    def layer_outputs(self, path: Path, options: RunnerOptions, feed, names: list[str]):
        """The Q/DQ model's layers as ONNX Runtime simulates them (an engine's are not exposed)."""
        if Path(path).suffix != ".onnx":
            return None
        from edge_pipeline.backends.onnxruntime.layers import onnx_layer_outputs

        return onnx_layer_outputs(Path(path), feed, names, options.threads)

    def runtime_variants(self, precision: str, target) -> list[str]:
        return [SIMULATED_VARIANT]

    def variants_for(self, artifact, target) -> list[str]:
        return [ENGINE_VARIANT] if artifact.kind == ENGINE_KIND else [SIMULATED_VARIANT]

    def quantize(self, onnx_path: Path, dataset, config, target, out_dir: Path,
                 eval_data=None, metric=None) -> list[ProducedArtifact]:
        # No accuracy control here (one Q/DQ placement, no candidates), so eval_data and metric go unused.
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
        statistics = collect_statistics(model, tensors, dataset, config.samples, config.num_bins)
        quantized = insert_qdq(model, plan, activation_amax(statistics, config.method, config.percentile))
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

    def device_steps(self, artifact, target) -> list[DeviceStep]:
        if artifact.kind != "onnx":
            return []
        options = tensorrt_options(target)
        if options.engine == "device-bundle":
            return [_bundle_step(artifact, target, options)] if artifact.precision == "int8" else []
        reason = engine_unavailable_reason()
        if reason is not None:
            simulated = (
                f" (meanwhile the '{SIMULATED_VARIANT}' rows give the Q/DQ model's accuracy in ONNX Runtime; "
                "their timings are this CPU's, not TensorRT's)"
            )
            return [DeviceStep("TensorRT engine build and benchmark", skipped=reason + simulated)]
        return [_engine_step(artifact, target, options)]


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


DEFAULT_INTEGER_RANGE = [0, 2]  # a mask's values, and a valid token id in any vocabulary


def _inputs_info(onnx_path: Path, observed: dict | None = None) -> list[dict]:
    """Every graph input (initializers excluded), in graph order; ``observed``: input name ->
    [low, high) seen in the calibration data (the int8 artifact's meta), for integer inputs."""
    model = onnx.load(str(onnx_path), load_external_data=False)
    initializers = {i.name for i in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in initializers]
    if not inputs:
        raise ConfigError(f"{onnx_path.name} has no graph inputs; TensorRT needs at least one to build a profile")
    return [_input_entry(onnx_path.name, graph_input, observed or {}) for graph_input in inputs]


def _input_entry(model_name: str, graph_input: onnx.ValueInfoProto, observed: dict) -> dict:
    dims = graph_input.type.tensor_type.shape.dim
    if not dims:
        raise ConfigError(f"{model_name}: input '{graph_input.name}' is a scalar; the TensorRT profile varies dim 0 "
                          "as the batch, so export it with a leading batch dim")
    sample = [d.dim_value if d.HasField("dim_value") else None for d in dims[1:]]
    if any(d is None or d <= 0 for d in sample):
        raise ConfigError(
            f"{model_name}: input '{graph_input.name}' has dynamic non-batch dims {sample}; "
            "export with fixed sample shape"
        )
    dtype = onnx.helper.tensor_dtype_to_np_dtype(graph_input.type.tensor_type.elem_type).name
    return {"name": graph_input.name, "dtype": dtype, "sample_shape": sample,
            **_value_range(graph_input.name, dtype, observed)}


def _value_range(name: str, dtype: str, observed: dict) -> dict:
    """Integer inputs (token ids, masks) get the range the device benchmark draws from: the one
    seen in the calibration data where the artifact records it (inside the recipe's declared
    value_range, which the data is checked against), else [0, 2). Floats and bools need none."""
    if np.dtype(dtype).kind not in "iu":
        return {}
    if name in observed:
        return {"value_range": list(observed[name]), "value_range_source": "calibration data"}
    return {"value_range": DEFAULT_INTEGER_RANGE, "value_range_source": "default"}


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


def _plan_for(artifact, target, options: TensorRtOptions) -> dict:
    path = Path(artifact.path)
    observed = (artifact.meta or {}).get("input_value_ranges")
    return build_plan(
        path.name, sha256_file(path), _inputs_info(path, observed), options, artifact.precision,
        target.benchmark.warmup, options.event_iterations,
    )


def _engine_step(artifact, target, options: TensorRtOptions) -> DeviceStep:
    plan = _plan_for(artifact, target, options)
    return DeviceStep(
        "TensorRT engine build",
        material={"engine": engine_material(), "plan": plan},
        produce=lambda directory: [build_engine_artifact(Path(artifact.path), plan, artifact.precision, directory)],
    )


def _bundle_step(artifact, target, options: TensorRtOptions) -> DeviceStep:
    from edge_pipeline.backends.tensorrt import device_script as tensorrt_device_script
    from edge_pipeline.backends.tensorrt.bundle import write_device_bundle

    plan = _plan_for(artifact, target, options)
    provenance = {
        "target": target.metadata.name,
        "source_artifact": artifact.id,
        "quantization": {k: artifact.meta.get(k) for k in ("calibration", "qdq", "float_nodes")},
        "host_tools": TensorRtBackend.versions(),
    }
    return DeviceStep(
        "Jetson bundle",
        material={"plan": plan, "script": sha256_file(Path(tensorrt_device_script.__file__))},
        produce=lambda directory: [write_device_bundle(Path(artifact.path), plan, directory, provenance)],
    )
