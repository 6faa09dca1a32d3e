"""Single-stage operations on explicit files, outside a recipe (what `edge-pipeline quantize`
and `edge-pipeline benchmark ARTIFACT...` run). The benchmark path imports no torch."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from edge_pipeline.artifacts.atomic import write_json, write_text
from edge_pipeline.artifacts.outputs import check_output_file, check_output_folder, output_errors, output_folder
from edge_pipeline.errors import ConfigError, DataError, EdgePipelineError, ModelLoadError, OutputError


def detect_backend(path: Path) -> str:
    """The registered backend that runs ``path`` (by its name; an IR's .bin must sit beside it)."""
    from edge_pipeline.backends.registry import detect

    return detect(path)[0].name


def check_external_data(path: Path) -> None:
    """An .onnx whose weights live in a file beside it that is missing: named, before any timing
    (the runtime's own message buries the name in a validation error)."""
    if path.suffix != ".onnx":
        return
    from edge_pipeline.modeling.onnx_source import external_data_files

    try:
        missing = [data for data in external_data_files(path) if not data.is_file()]
    except ImportError:  # a device install without the onnx package: the runtime's load reports it
        return
    if missing:
        raise ModelLoadError(f"{path} keeps its weights in {', '.join(p.name for p in missing)}, which is missing "
                             f"from {path.parent}; copy it beside the .onnx file (keep its name)")


def quantize_onnx(onnx_path: Path, target_name: str, calibration: Path, out: Path, overrides: list[str],
                  input_name: str | None = None, input_shapes: dict[str, list[int]] | None = None) -> Path:
    """Prepare ``onnx_path`` as a recipe's ``model: {onnx: ...}`` is prepared (dynamic dims fixed from
    ``input_shapes``, old opsets converted, dead constants folded), quantize it for the target, then
    load and run every artifact against the prepared FP32 model before the folder counts."""
    from edge_pipeline.backends.registry import get_backend
    from edge_pipeline.benchmarking.scratch import claim_temp_root

    claim_temp_root()  # scratch under one folder per process, swept by the next run if this one is killed
    from edge_pipeline.calibration.readers import load_dataset
    from edge_pipeline.config.schema import DatasetSpec, ExportConfig
    from edge_pipeline.engine.run import resolve_target
    from edge_pipeline.fidelity.checked import QuantizeJob, quantize_checked
    from edge_pipeline.modeling.onnx_source import ingest_onnx

    target = resolve_target(target_name)
    config, target = _quantize_overrides(target, overrides)
    if not onnx_path.is_file():
        raise ConfigError(f"ONNX model {onnx_path} does not exist")
    check_output_folder(out, [onnx_path, calibration], [onnx_path])  # before any file is read or written
    specs = onnx_input_specs(onnx_path, input_shapes or {})
    if input_name is not None and input_name not in {spec.name for spec in specs}:
        raise ConfigError(f"--input-name '{input_name}' is not an input of {onnx_path.name}; inputs are "
                          f"{[spec.name for spec in specs]}")
    dataset = load_dataset(DatasetSpec(path=calibration), specs, "calibration")
    backend = get_backend(target.backend)
    with tempfile.TemporaryDirectory(prefix="ep-quantize-") as scratch, output_folder(out, "quantize") as tmp:
        prepared = Path(scratch) / onnx_path.name
        preparation = ingest_onnx(onnx_path, specs, ExportConfig(), prepared)
        # The held-out check runs on the calibration data here: the command is given no other.
        job = QuantizeJob(backend, target, config, prepared, dataset, dataset)
        produced = quantize_checked(job, tmp, f"{onnx_path.name} for {target_name}")
        write_json(tmp / "quantize.json", {
            "source": str(onnx_path), "target": target_name, "config": config.model_dump(),
            "inputs": [spec.model_dump(mode="json") for spec in specs], "preparation": preparation,
            "artifacts": [{"path": p.path.name, "precision": p.precision, "meta": p.meta,
                           "fidelity_check": p.meta.get("fidelity_check")} for p in produced],
        })
        names = [p.path.name for p in produced]
    return out / names[0]


def _quantize_overrides(target, overrides: list[str]):
    """``--set quantize.KEY=...`` over the target's quantize defaults and ``--set options.KEY=...`` over
    its backend options (checked by the backend); any other section is refused, not ignored."""
    import copy

    from edge_pipeline.backends.registry import typed_options
    from edge_pipeline.config.loader import apply_overrides, validate_config
    from edge_pipeline.config.recipes import with_target_options
    from edge_pipeline.config.schema import QuantizeConfig

    # A deep copy: apply_overrides edits nested mappings in place, and the profile must stay as loaded.
    data = apply_overrides({"quantize": target.quantize.model_dump(), "options": copy.deepcopy(target.options)},
                           overrides, "--set")
    other = sorted(set(data) - {"quantize", "options"})
    if other:
        raise ConfigError(f"--set {other[0]}...: this command takes only quantize.KEY and options.KEY (the "
                          f"target's backend options), e.g. --set quantize.method=entropy")
    config = validate_config(QuantizeConfig, data["quantize"], "--set quantize")
    if data["options"] != target.options:
        target = with_target_options(target, {target.metadata.name: data["options"]})
        typed_options(target, "--set options")
    return config, target


def parse_input_shape(text: str) -> tuple[str, list[int]]:
    """``name=1,3,640,640`` -> ("name", [1, 3, 640, 640])."""
    name, sep, dims = text.partition("=")
    try:
        shape = [int(d) for d in dims.replace("x", ",").split(",") if d.strip()]
    except ValueError:
        shape = []
    if not sep or not name or not shape or any(d <= 0 for d in shape):
        raise ConfigError(f"--input-shape '{text}' is not NAME=DIMS; write e.g. --input-shape images=1,3,640,640")
    return name, shape


def onnx_input_specs(path: Path, shapes: dict[str, list[int]]):
    """An InputSpec per graph input: dtype from the file, shape from ``shapes`` where given, else the
    file's (a dynamic batch becomes 1, dynamic otherwise); a dynamic non-batch dim needs a shape."""
    import onnx

    from edge_pipeline.config.schema import InputSpec
    from edge_pipeline.modeling.onnx_source import graph_inputs, onnx_dtype

    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # protobuf decode errors
        raise ConfigError(f"{path} is not a readable ONNX model ({exc.__class__.__name__}); re-export it") from exc
    inputs = graph_inputs(model)
    unknown = sorted(set(shapes) - {i.name for i in inputs})
    if unknown:
        raise ConfigError(f"--input-shape names {unknown}, which {path.name} does not take; its inputs are "
                          f"{[i.name for i in inputs]}")
    specs = []
    for graph_input in inputs:
        dims = [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None
                for d in graph_input.type.tensor_type.shape.dim]
        shape = shapes.get(graph_input.name)
        if shape is None and any(d is None for d in dims[1:]):
            example = ",".join(str(d or "N") for d in [1, *dims[1:]])
            raise ConfigError(f"{path.name}: input '{graph_input.name}' has dynamic dims {dims}; give them with "
                              f"--input-shape {graph_input.name}={example}")
        if shape is not None and len(shape) != len(dims):
            raise ConfigError(f"--input-shape {graph_input.name} has {len(shape)} dims, the input has rank "
                              f"{len(dims)}")
        shape = shape or [dims[0] or 1, *dims[1:]]
        specs.append(InputSpec(name=graph_input.name, shape=shape, dynamic_batch=dims[0] is None if dims else False,
                               dtype=onnx_dtype(graph_input, path)))
    return specs


def benchmark_files(paths: list[Path], out: Path | None, eval_data: Path | None, batch_sizes: list[int],
                    threads: list[int], warmup: int | str, iterations: int, streams: list[int] | None = None,
                    csv_out: Path | None = None, time_budget_s: float | None = None, variant: str | None = None,
                    rounds: int = 1, providers: list[str] | None = None, profile: int | None = None) -> dict:
    """Time each file in its own worker process: sweep batch × threads (× streams for OpenVINO).

    ``providers``: ONNX Runtime execution providers for the files ORT runs; ``profile``: add the top
    that many layers by time to every configuration (see ``_device_options``).

    Every artifact is checked (format, runtime) before the first one is timed. A batch size a
    fixed-shape model refuses is recorded as skipped with the reason, and a file its runtime cannot
    run as failed, so neither throws away what the others measured (a sweep over a bundle can take
    minutes); only when nothing could be timed at all is it an error. Each result carries the
    artifact's sha256, so `benchmark --compare` matches files by content.
    With ``rounds`` > 1 every file is timed once per round, files in turn, and the samples pooled.
    """
    from edge_pipeline.benchmarking.harness import run_worker
    from edge_pipeline.benchmarking.host import fingerprint
    from edge_pipeline.benchmarking.results import RESULT_KIND, RESULT_SCHEMA_VERSION, to_csv
    from edge_pipeline.benchmarking.rounds import pool_rounds
    from edge_pipeline.benchmarking.scratch import claim_temp_root

    claim_temp_root()  # worker jobs under one folder per process, swept by the next run if this one is killed

    if rounds < 1:
        raise ConfigError(f"rounds must be at least 1, got {rounds}")
    out, csv_out = benchmark_outputs(out, csv_out)
    check_result_files(out, csv_out, [*paths, *([eval_data] if eval_data else [])])  # before any timing
    backends = {path: detect_backend(path) for path in paths}
    for path in paths:
        check_external_data(path)
    measured: list[list[dict]] = [[] for _ in paths]
    failures: dict[int, EdgePipelineError] = {}
    with tempfile.TemporaryDirectory(prefix="ep-bench-") as tmp:
        eval_inputs = eval_inputs_file(eval_data, Path(tmp))
        jobs = [file_job(path, backends[path], batch_sizes, threads, warmup, iterations, streams, time_budget_s,
                          variant, eval_inputs) for path in paths]
        jobs = [_device_options(job, index, providers, profile, out) for index, job in enumerate(jobs)]
        for round_index in range(rounds):
            for index, (path, job) in enumerate(zip(paths, jobs, strict=True)):
                job = job if round_index == 0 else {**job, "profile": None}  # one profile, from the first round
                if index in failures:  # failed once: not retried, the other files go on
                    continue
                try:
                    measured[index].append(run_worker(job, Path(tmp) / f"{round_index}-{index}-{path.name}"))
                except EdgePipelineError as error:
                    failures[index] = error
    results = [{"artifact": str(path), "backend": job["backend"], "variant": job["variant"],
                "sha256": content_sha256(path),
                # A file that failed in a later round keeps the rounds it completed.
                **(with_skip_reasons(pool_rounds(measured[index])) if measured[index]
                   else failed_file(job, failures[index]))}
               for index, (path, job) in enumerate(zip(paths, jobs, strict=True))]
    check_something_timed(results, [failures[index] for index in sorted(failures)])
    report = {
        "schema_version": RESULT_SCHEMA_VERSION,
        "kind": RESULT_KIND,
        "host": fingerprint(),
        "settings": {"batch_sizes": batch_sizes, "threads": threads, "streams": streams, "warmup": warmup,
                     "iterations": iterations, "time_budget_s": time_budget_s, "variant": variant, "rounds": rounds,
                     "providers": providers, "profile": profile},
        "results": results,
    }
    if out is not None:
        with output_errors(out):
            write_json(out, report)
    if csv_out is not None:
        with output_errors(csv_out, "--csv"):
            write_text(csv_out, to_csv(report))
    return report


def content_sha256(path: Path) -> str:
    """The artifact's sha256 as the bundle manifest records it (an IR with its .bin)."""
    from edge_pipeline.artifacts.hashing import sha256_artifact
    from edge_pipeline.backends.registry import detect

    _, found = detect(path)
    return sha256_artifact(path, [p for p in found.sidecar_paths(path) if p.is_file()])


def with_skip_reasons(result: dict) -> dict:
    """A configuration the model refuses (a batch size a fixed-shape model cannot take) says what to do."""
    configs = [{**config, "skipped": f"{config['skipped']}, so batch size {config['batch_size']} was not "
                "timed; time the fixed batch, or re-export the model with a dynamic batch dimension"}
               if str(config.get("skipped", "")).startswith("model batch is fixed") else config
               for config in result["configs"]]
    return {**result, "configs": configs}


def failed_file(job: dict, error: EdgePipelineError) -> dict:
    """A file its runtime could not time: every configuration recorded as skipped with the reason."""
    reason = f"could not be timed: {error}"
    configs = [{"batch_size": batch, "threads": threads, "streams": streams, "skipped": reason}
               for streams in (job["streams"] or [None]) for threads in job["threads"]
               for batch in job["batch_sizes"]]
    return {"error": str(error), "configs": configs}


def check_something_timed(results: list[dict], failures: list[EdgePipelineError]) -> None:
    """Fail only when no configuration of any file was timed: then there is nothing to keep."""
    if any("skipped" not in config for result in results for config in result["configs"]):
        return
    if failures:
        raise failures[0]  # its own kind and exit code (a missing runtime, a file that cannot load)
    reasons = sorted({f"{Path(r['artifact']).name}: {c['skipped']}" for r in results for c in r["configs"]})
    raise ConfigError("nothing could be timed: " + "; ".join(reasons))


def benchmark_outputs(out: Path | None, csv_out: Path | None) -> tuple[Path | None, Path | None]:
    """Where `benchmark` writes: the JSON at ``out`` (an existing folder: ``out/benchmark.json``, as
    `cp` puts a file into a folder), the CSV at ``csv_out`` (a folder: ``csv_out/benchmark.csv``)
    or else beside the JSON. A filesystem root stays as given, to be refused.

    A name chosen here (in a folder the user named) replaces only a result this tool wrote: the
    user's own ``benchmark.json`` in that folder is refused, not overwritten. A file the user names
    is overwritten, as ``cp`` and ``-o FILE`` do."""
    if csv_out is not None and _inner_folder(csv_out):
        csv_out = _chosen_name(csv_out, "benchmark.csv", "--csv")
    if out is not None and _inner_folder(out):
        if csv_out is None:
            # The CSV beside the JSON: a new JSON name moves both.
            csv_out = _chosen_name(out, "benchmark.csv", "--out", suggest="benchmark.json")
        out = _chosen_name(out, "benchmark.json", "--out")
    if csv_out is None and out is not None and out.name:  # a root has no name to put a suffix on
        csv_out = out.with_suffix(".csv")
    return out, csv_out


def _chosen_name(folder: Path, name: str, option: str, suggest: str | None = None) -> Path:
    path = folder / name
    if (path.exists() or path.is_symlink()) and not _our_result(path):
        raise OutputError(f"{option} {folder}: {path} exists and is not a benchmark result edge-pipeline wrote, so it "
                          f"is left alone; name a new file, e.g. {option} {folder / ('new-' + (suggest or name))}")
    return path


def _our_result(path: Path) -> bool:
    """A benchmark JSON (its kind) or CSV (its header) as this tool writes them."""
    from edge_pipeline.benchmarking.results import CSV_COLUMNS, RESULT_KIND

    if path.is_symlink() or not path.is_file():
        return False
    try:
        if path.suffix == ".csv":
            with open(path, encoding="utf-8") as handle:
                return handle.readline().rstrip("\n").split(",") == list(CSV_COLUMNS)
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return False
    return isinstance(data, dict) and data.get("kind") == RESULT_KIND


def _inner_folder(path: Path) -> bool:
    return path.is_dir() and path.resolve().parent != path.resolve()


def check_result_files(out: Path | None, csv_out: Path | None, inputs: list[Path]) -> None:
    if out is not None:
        check_output_file(out, inputs, "--out")
    if csv_out is not None:
        check_output_file(csv_out, inputs, "--csv")
    if out is not None and csv_out is not None and out.resolve() == csv_out.resolve():
        raise OutputError(f"--out {out} is where the CSV goes too (beside the JSON, same name with .csv); "
                          f"name the JSON file {out.with_suffix('.json')} or pass --csv")


def file_job(path: Path, backend: str, batch_sizes: list[int], threads: list[int], warmup: int | str,
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
        "on_fixed_batch": "skip",  # recorded per configuration; the other batch sizes are still timed
    }
    if eval_inputs is not None:
        job["eval_inputs"] = str(eval_inputs)
    return job


def _device_options(job: dict, index: int, providers: list[str] | None, profile: int | None,
                    out: Path | None) -> dict:
    """--provider for the files ONNX Runtime runs (no other runtime has execution providers), checked
    against the installed runtime before any file is timed; --profile's traces go beside the results
    (``<out stem>-profiles/<n>-<file>/``, as files of one name come from several targets), or with
    no --out into the worker's scratch folder."""
    if providers and job["backend"] == "onnxruntime":
        from edge_pipeline.backends.onnxruntime.providers import check_installed, parse_providers

        providers = parse_providers(providers)
        check_installed(providers)
        job = {**job, "settings": {**(job.get("settings") or {}), "providers": providers}}
    if profile:
        folder = out.with_name(f"{out.stem}-profiles") / f"{index + 1}-{Path(job['artifact']).name}" if out else None
        job = {**job, "profile": {"top": profile, "dir": str(folder) if folder else None}}
    return job


def compare_result_files(baseline: Path, candidate: Path) -> dict:
    from edge_pipeline.benchmarking.results import compare, load_result_file

    return compare(load_result_file(baseline), load_result_file(candidate))


def eval_inputs_file(eval_data: Path | None, tmp: Path) -> Path | None:
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
