"""What the quantize stage does with TensorRT's Q/DQ ONNX per target: build an engine here (a GPU
host) or write the Jetson device bundle, each from a plan read from the ONNX's inputs (onnx needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx

from edge_pipeline.artifacts.hashing import sha256_file
from edge_pipeline.backends.base import DeviceStep
from edge_pipeline.backends.tensorrt.backend import SIMULATED_VARIANT
from edge_pipeline.backends.tensorrt.engine import build_engine_artifact, engine_material, engine_unavailable_reason
from edge_pipeline.backends.tensorrt.options import TensorRtOptions, build_plan, tensorrt_options
from edge_pipeline.errors import ConfigError


def device_steps(artifact, target, host_tools: dict[str, str]) -> list[DeviceStep]:
    """``host_tools``: this host's tool versions, recorded in a bundle's manifest."""
    if artifact.kind != "onnx":
        return []
    options = tensorrt_options(target)
    if options.engine == "device-bundle":
        return [_bundle_step(artifact, target, options, host_tools)] if artifact.precision == "int8" else []
    reason = engine_unavailable_reason()
    if reason is not None:
        simulated = (
            f" (meanwhile the '{SIMULATED_VARIANT}' rows give the Q/DQ model's accuracy in ONNX Runtime; "
            "their timings are this CPU's, not TensorRT's)"
        )
        return [DeviceStep("TensorRT engine build and benchmark", skipped=reason + simulated)]
    return [_engine_step(artifact, target, options)]


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


def _bundle_step(artifact, target, options: TensorRtOptions, host_tools: dict[str, str]) -> DeviceStep:
    from edge_pipeline.backends.tensorrt import device_script as tensorrt_device_script
    from edge_pipeline.backends.tensorrt.bundle import write_device_bundle

    plan = _plan_for(artifact, target, options)
    provenance = {
        "target": target.metadata.name,
        "source_artifact": artifact.id,
        "quantization": {k: artifact.meta.get(k) for k in ("calibration", "qdq", "float_nodes")},
        "host_tools": host_tools,
    }
    return DeviceStep(
        "Jetson bundle",
        material={"plan": plan, "script": sha256_file(Path(tensorrt_device_script.__file__))},
        produce=lambda directory: [write_device_bundle(Path(artifact.path), plan, directory, provenance)],
    )
