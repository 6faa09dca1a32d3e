"""Single-stage operations on explicit files, outside a recipe (what `edge-pipeline quantize`
and `edge-pipeline benchmark ARTIFACT...` run). The benchmark path imports no torch."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from edge_pipeline.artifacts.atomic import atomic_directory, write_json
from edge_pipeline.errors import ConfigError, DataError

ARTIFACT_SUFFIXES = {".onnx": "onnxruntime", ".ort": "onnxruntime", ".xml": "openvino", ".engine": "tensorrt", ".plan": "tensorrt"}


def detect_backend(path: Path) -> str:
    if not path.exists():
        raise ConfigError(f"artifact {path} does not exist")
    backend = ARTIFACT_SUFFIXES.get(path.suffix.lower())
    if backend is None:
        raise ConfigError(
            f"cannot tell the runtime of {path}: '{path.suffix}' is not one of {sorted(ARTIFACT_SUFFIXES)}"
        )
    return backend


def quantize_onnx(onnx_path: Path, target_name: str, calibration: Path, out: Path, overrides: list[str], input_name: str | None) -> Path:
    from edge_pipeline.backends.registry import get_backend
    from edge_pipeline.calibration.readers import load_dataset
    from edge_pipeline.config.loader import apply_overrides, validate_config
    from edge_pipeline.config.recipes import load_target
    from edge_pipeline.config.schema import DatasetSpec, QuantizeConfig
    from edge_pipeline.modeling.onnx_export import check_onnx_file

    target = load_target(target_name)
    data = apply_overrides({"quantize": target.quantize.model_dump()}, overrides, "--set")
    config = validate_config(QuantizeConfig, data["quantize"], "--set quantize")
    if not onnx_path.is_file():
        raise ConfigError(f"ONNX model {onnx_path} does not exist")
    check_onnx_file(onnx_path)
    sample_shape, dtype = onnx_input_signature(onnx_path, input_name)
    dataset = load_dataset(DatasetSpec(path=calibration), sample_shape, dtype, "calibration")
    backend = get_backend(target.backend)
    with atomic_directory(out) as tmp:
        produced = backend.quantize(onnx_path, dataset, config, target, tmp)
        write_json(tmp / "quantize.json", {"source": str(onnx_path), "target": target_name, "config": config.model_dump(),
                                           "artifacts": [{"path": p.path.name, "precision": p.precision, "meta": p.meta} for p in produced]})
        names = [p.path.name for p in produced]
    return out / names[0]


def onnx_input_signature(path: Path, input_name: str | None) -> tuple[tuple[int, ...], str]:
    import onnx
    from onnx import helper

    graph = onnx.load(str(path), load_external_data=False).graph
    inputs = [i for i in graph.input if input_name is None or i.name == input_name]
    if not inputs:
        raise ConfigError(f"{path} has no input named '{input_name}'; inputs are {[i.name for i in graph.input]}")
    tensor = inputs[0].type.tensor_type
    dims = [d.dim_value if d.HasField("dim_value") else None for d in tensor.shape.dim]
    if any(d is None for d in dims[1:]):
        raise DataError(f"{path}: input '{inputs[0].name}' has dynamic non-batch dimensions {dims}; export with fixed ones")
    return tuple(dims[1:]), helper.tensor_dtype_to_np_dtype(tensor.elem_type).name


def benchmark_files(paths: list[Path], out: Path | None, eval_data: Path | None, batch_sizes: list[int],
                    threads: list[int], warmup: int, iterations: int) -> dict:
    from edge_pipeline.benchmarking.harness import run_worker, write_eval_inputs
    from edge_pipeline.benchmarking.host import fingerprint

    results = []
    with tempfile.TemporaryDirectory(prefix="ep-bench-") as tmp:
        eval_inputs = _eval_inputs(eval_data, Path(tmp))
        for path in paths:
            job = {
                "backend": detect_backend(path),
                "artifact": str(path.resolve()),
                "batch_sizes": batch_sizes,
                "threads": threads,
                "warmup": warmup,
                "iterations": iterations,
                "time_budget_s": None,
                "eval_batch_size": 64,
                "sample_shape": None,
                "dtype": "float32",
            }
            if eval_inputs is not None:
                job["eval_inputs"] = str(eval_inputs)
            result = run_worker(job, Path(tmp) / path.name)
            results.append({"artifact": str(path), "backend": job["backend"], **result})
    report = {"schema_version": 1, "kind": "edge_pipeline.benchmark", "host": fingerprint(), "results": results}
    if out is not None:
        write_json(out, report)
    return report


def _eval_inputs(eval_data: Path | None, tmp: Path) -> Path | None:
    if eval_data is None:
        return None
    import numpy as np

    if eval_data.suffix == ".npz":
        with np.load(eval_data, allow_pickle=False) as archive:
            inputs = archive["x"]
    else:
        inputs = np.load(eval_data, allow_pickle=False)
    return write_eval_inputs(inputs, tmp)
