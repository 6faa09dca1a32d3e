"""Single-stage operations on explicit files, outside a recipe (what `edge-pipeline quantize`
and `edge-pipeline benchmark ARTIFACT...` run). The benchmark path imports no torch."""

from __future__ import annotations

import tempfile
from pathlib import Path

from edge_pipeline.artifacts.atomic import atomic_directory, write_json
from edge_pipeline.errors import ConfigError, DataError


def detect_backend(path: Path) -> str:
    """The registered backend that runs ``path`` (by its name; an IR's .bin must sit beside it)."""
    from edge_pipeline.backends.registry import detect

    return detect(path)[0].name


def quantize_onnx(onnx_path: Path, target_name: str, calibration: Path, out: Path, overrides: list[str],
                  input_name: str | None) -> Path:
    from edge_pipeline.backends.registry import get_backend
    from edge_pipeline.calibration.readers import load_dataset
    from edge_pipeline.config.loader import apply_overrides, validate_config
    from edge_pipeline.config.schema import DatasetSpec, QuantizeConfig
    from edge_pipeline.engine.run import resolve_target
    from edge_pipeline.modeling.onnx_export import check_onnx_file

    target = resolve_target(target_name)
    data = apply_overrides({"quantize": target.quantize.model_dump()}, overrides, "--set")
    config = validate_config(QuantizeConfig, data["quantize"], "--set quantize")
    if not onnx_path.is_file():
        raise ConfigError(f"ONNX model {onnx_path} does not exist")
    check_onnx_file(onnx_path)
    input_spec = onnx_input_spec(onnx_path, input_name)
    dataset = load_dataset(DatasetSpec(path=calibration), input_spec, "calibration")
    backend = get_backend(target.backend)
    with atomic_directory(out) as tmp:
        produced = backend.quantize(onnx_path, dataset, config, target, tmp)
        write_json(tmp / "quantize.json", {
            "source": str(onnx_path), "target": target_name, "config": config.model_dump(),
            "artifacts": [{"path": p.path.name, "precision": p.precision, "meta": p.meta} for p in produced],
        })
        names = [p.path.name for p in produced]
    return out / names[0]


def onnx_input_spec(path: Path, input_name: str | None):
    """The InputSpec of the ONNX file's input (``input_name``, or its first)."""
    import onnx
    from onnx import helper

    from edge_pipeline.config.schema import InputSpec

    graph = onnx.load(str(path), load_external_data=False).graph
    inputs = [i for i in graph.input if input_name is None or i.name == input_name]
    if not inputs:
        raise ConfigError(f"{path} has no input named '{input_name}'; inputs are {[i.name for i in graph.input]}")
    tensor = inputs[0].type.tensor_type
    dims = [d.dim_value if d.HasField("dim_value") else None for d in tensor.shape.dim]
    if any(d is None for d in dims[1:]):
        raise DataError(
            f"{path}: input '{inputs[0].name}' has dynamic non-batch dimensions {dims}; export with fixed ones"
        )
    batch = dims[0] if dims and dims[0] else 1
    return InputSpec(name=inputs[0].name, shape=[batch, *dims[1:]],
                     dtype=helper.tensor_dtype_to_np_dtype(tensor.elem_type).name)


def benchmark_files(paths: list[Path], out: Path | None, eval_data: Path | None, batch_sizes: list[int],
                    threads: list[int], warmup: int | str, iterations: int, streams: list[int] | None = None,
                    csv_out: Path | None = None, time_budget_s: float | None = None, variant: str | None = None,
                    rounds: int = 1) -> dict:
    """Time each file in its own worker process: sweep batch × threads (× streams for OpenVINO).

    Every artifact is checked (format, runtime) before the first one is timed. A batch size a
    fixed-shape model refuses is an error here, naming the shape; the pipeline skips it instead.
    With ``rounds`` > 1 every file is timed once per round, files in turn, and the samples pooled.
    """
    from edge_pipeline.benchmarking.harness import run_worker
    from edge_pipeline.benchmarking.host import fingerprint
    from edge_pipeline.benchmarking.results import RESULT_KIND, RESULT_SCHEMA_VERSION, to_csv
    from edge_pipeline.benchmarking.rounds import pool_rounds

    if rounds < 1:
        raise ConfigError(f"rounds must be at least 1, got {rounds}")
    backends = {path: detect_backend(path) for path in paths}
    measured: list[list[dict]] = [[] for _ in paths]
    with tempfile.TemporaryDirectory(prefix="ep-bench-") as tmp:
        eval_inputs = _eval_inputs(eval_data, Path(tmp))
        jobs = [_file_job(path, backends[path], batch_sizes, threads, warmup, iterations, streams, time_budget_s,
                          variant, eval_inputs) for path in paths]
        for round_index in range(rounds):
            for index, (path, job) in enumerate(zip(paths, jobs, strict=True)):
                measured[index].append(run_worker(job, Path(tmp) / f"{round_index}-{index}-{path.name}"))
    results = [{"artifact": str(path), "backend": job["backend"], "variant": job["variant"],
                **pool_rounds(rounds_of_path)}
               for path, job, rounds_of_path in zip(paths, jobs, measured, strict=True)]
    report = {
        "schema_version": RESULT_SCHEMA_VERSION,
        "kind": RESULT_KIND,
        "host": fingerprint(),
        "settings": {"batch_sizes": batch_sizes, "threads": threads, "streams": streams, "warmup": warmup,
                     "iterations": iterations, "time_budget_s": time_budget_s, "variant": variant, "rounds": rounds},
        "results": results,
    }
    if out is not None:
        write_json(out, report)
        csv_out = csv_out or out.with_suffix(".csv")
    if csv_out is not None:
        from edge_pipeline.artifacts.atomic import write_text

        write_text(csv_out, to_csv(report))
    return report


def _file_job(path: Path, backend: str, batch_sizes: list[int], threads: list[int], warmup: int | str,
              iterations: int, streams: list[int] | None, time_budget_s: float | None, variant: str | None,
              eval_inputs: Path | None) -> dict:
    from edge_pipeline.backends.registry import descriptor

    row = descriptor(backend)
    job = {
        "backend": backend,
        "artifact": str(path.resolve()),
        "variant": variant or row.default_variant,
        "batch_sizes": batch_sizes,
        "threads": threads,
        "streams": streams if "streams" in row.sweeps else None,
        "warmup": warmup,
        "iterations": iterations,
        "time_budget_s": time_budget_s,
        "eval_batch_size": 64,
        "on_fixed_batch": "error",
    }
    if eval_inputs is not None:
        job["eval_inputs"] = str(eval_inputs)
    return job


def compare_result_files(baseline: Path, candidate: Path) -> dict:
    from edge_pipeline.benchmarking.results import compare, load_result_file

    return compare(load_result_file(baseline), load_result_file(candidate))


def _eval_inputs(eval_data: Path | None, tmp: Path) -> Path | None:
    """--data as named arrays: an .npz's arrays by input name ('x' serves a one-input model), or one .npy."""
    if eval_data is None:
        return None
    import numpy as np

    from edge_pipeline.benchmarking.harness import write_eval_inputs

    if not eval_data.is_file():
        raise DataError(
            f"--data {eval_data} does not exist; pass a .npz of arrays named after the inputs (or 'x'), or a .npy"
        )
    try:
        if eval_data.suffix == ".npz":
            with np.load(eval_data, allow_pickle=False) as archive:
                arrays = {name: archive[name] for name in archive.files if name not in ("y", "labels")}
        else:
            arrays = {"x": np.load(eval_data, allow_pickle=False)}
    except (OSError, ValueError) as exc:
        raise DataError(
            f"--data {eval_data} is not a readable numpy file ({exc}); re-save it with numpy.savez"
        ) from exc
    if not arrays:
        raise DataError(f"--data {eval_data} holds no input arrays; save them named after the model inputs (or 'x')")
    return write_eval_inputs(arrays, tmp)
