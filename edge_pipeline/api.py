"""The Python API. The CLI calls these and nothing else; each works on explicit inputs.

    from edge_pipeline import api
    bundle = api.run(out="bundle")                     # the embedded default
    onnx = api.export("recipe.yaml", out_dir="exp")    # one stage on its own
"""

from __future__ import annotations

from pathlib import Path

from edge_pipeline.artifacts.outputs import check_output_folder
from edge_pipeline.config.recipes import load_recipe
from edge_pipeline.config.schema import Recipe
from edge_pipeline.errors import PartialRunError
from edge_pipeline.progress import progress


def run(recipe: str | Path | None = None, out: str | Path = "bundle", overrides: list[str] | None = None,
        cache_dir: str | Path | None = None, use_cache: bool = True, fail_fast: bool = False) -> Path:
    """Run the recipe's stages (the embedded default when ``recipe`` is None); return the bundle path.

    A target whose quantize or benchmark work fails costs only itself: the bundle is written for the
    others, then ``PartialRunError`` is raised carrying ``bundle`` and ``failures``. With
    ``fail_fast`` the first failure stops the run and nothing is written."""
    loaded = load_recipe(Path(recipe) if recipe else None, overrides)
    return run_recipe(loaded, Path(out), Path(cache_dir) if cache_dir else None, use_cache,
                      recipe_file=Path(recipe) if recipe else None, fail_fast=fail_fast)


def run_recipe(recipe: Recipe, out: Path, cache_dir: Path | None = None, use_cache: bool = True,
               recipe_file: Path | None = None, fail_fast: bool = False) -> Path:
    """Run an already loaded recipe; under torchrun, helper ranks return ``out`` (rank 0 writes it).

    ``out`` is checked before any stage runs (``artifacts/outputs.py``): a new, empty or previous
    bundle folder, writable, with room; every rank checks, so a refusal stops them all. Failed
    targets: as ``run``."""
    from edge_pipeline.engine.run import Engine

    inputs = [*_recipe_paths(recipe), *(p for p in (recipe_file, cache_dir) if p is not None)]
    check_output_folder(out, inputs, _model_files(recipe))
    remote = recipe.benchmark.remote
    if remote is not None:
        from edge_pipeline.remote.bundle_run import check_remote

        check_remote(remote, [Path(t).stem for t in recipe.targets])  # before hours of training, not after
    engine = Engine(recipe, cache_dir, use_cache, fail_fast)
    bundle = engine.run(out)
    if bundle is not None:
        progress("package", f"bundle written: {bundle}")
        if remote is not None:
            from edge_pipeline.remote.bundle_run import run_remote

            # Not a stage: device timings are never cached, and go into the finished bundle.
            run_remote(remote, recipe.benchmark, bundle)
    failures = engine.failures
    if failures and bundle is not None:
        # The first failure's traceback stays reachable (--debug prints the chain).
        raise PartialRunError(bundle, [failure.record() for failure in failures]) from failures[0].exception
    return bundle or Path(out)


def export(recipe: str | Path | None = None, out: str | Path = "export", overrides: list[str] | None = None,
           cache_dir: str | Path | None = None) -> Path:
    """Export the recipe's model to ONNX only; returns the bundle holding the checked FP32 ONNX."""
    return _run_stages(recipe, out, overrides, cache_dir, ["export"])


def quantize(onnx_path: str | Path, target: str, calibration: str | Path, out: str | Path = "quantized",
             overrides: list[str] | None = None, input_name: str | None = None,
             input_shapes: dict[str, list[int]] | None = None) -> Path:
    """Quantize an existing ONNX file for ``target`` with calibration data; returns the INT8 file.

    ``input_shapes`` ({input name: shape}) fixes the file's dynamic dims; the calibration .npz holds
    one array per input name (a one-input model may use 'x')."""
    from edge_pipeline.standalone import quantize_onnx

    return quantize_onnx(Path(onnx_path), target, Path(calibration), Path(out), overrides or [], input_name,
                         input_shapes)


def benchmark(artifacts: list[str | Path], out: str | Path | None = None, eval_data: str | Path | None = None,
              batch_sizes: list[int] | None = None, threads: list[int] | None = None,
              warmup: int | str = 20, iterations: int = 200, streams: list[int] | None = None,
              csv_out: str | Path | None = None, time_budget_s: float | None = None, variant: str | None = None,
              rounds: int = 1, providers: list[str] | None = None, profile: int | None = None) -> dict:
    """Time artifact files directly (backend detected from the file); no torch needed.

    ``warmup`` is a count or ``"auto"`` (until latency settles); ``streams`` sweeps OpenVINO streams;
    ``variant`` is a runtime mode (OpenVINO 'f32'/'bf16'; default: the runtime's FP32 reference);
    ``rounds`` times every file that many times, files in turn, each in a fresh process, pooled.
    ``providers`` picks ONNX Runtime execution providers in priority order ('cuda', 'cpu' or ORT's
    names); ``profile`` adds the top that many layers by time to each configuration (``profile`` entry).
    With ``out`` the JSON is written there and the CSV beside it (or to ``csv_out``).
    """
    from edge_pipeline.standalone import benchmark_files

    return benchmark_files([Path(a) for a in artifacts], Path(out) if out else None,
                           Path(eval_data) if eval_data else None, batch_sizes or [1], threads or [2], warmup,
                           iterations, streams, Path(csv_out) if csv_out else None, time_budget_s, variant, rounds,
                           providers, profile)


def benchmark_on_devices(devices: list[str], artifacts: list[str | Path], devices_file: str | Path | None = None,
                         out: str | Path | None = None, eval_data: str | Path | None = None,
                         batch_sizes: list[int] | None = None, threads: list[int] | None = None,
                         warmup: int | str = 20, iterations: int = 200, streams: list[int] | None = None,
                         csv_out: str | Path | None = None, time_budget_s: float | None = None,
                         variant: str | None = None, rounds: int = 1, providers: list[str] | None = None,
                         profile: int | None = None) -> dict[str, dict]:
    """``benchmark`` on the named devices of ``devices_file`` (default: $EDGE_PIPELINE_DEVICES, else
    ./devices.yaml) over ssh, in parallel; returns {device: report}. Each device's report is written
    to its own files (with several devices, named after it). A failed device raises
    ``remote.benchmark.DevicesFailedError`` after every result was written, partial ones marked."""
    from edge_pipeline.remote.benchmark import benchmark_on_devices as run_on_devices

    return run_on_devices(list(devices), Path(devices_file) if devices_file else None, [Path(a) for a in artifacts],
                          Path(out) if out else None, Path(eval_data) if eval_data else None, batch_sizes or [1],
                          threads or [2], warmup, iterations, streams, Path(csv_out) if csv_out else None,
                          time_budget_s, variant, rounds, providers, profile)


def benchmark_bundle_on_devices(devices: list[str], bundle: str | Path, artifacts: list[str | Path] | None = None,
                                devices_file: str | Path | None = None, out: str | Path | None = None,
                                eval_data: str | Path | None = None,
                                batch_sizes: list[int] | None = None, threads: list[int] | None = None,
                                warmup: int | str = 20, iterations: int = 200, streams: list[int] | None = None,
                                csv_out: str | Path | None = None, time_budget_s: float | None = None,
                                variant: str | None = None, rounds: int = 1, providers: list[str] | None = None,
                                profile: int | None = None) -> dict[str, dict]:
    """``benchmark_on_devices`` of a bundle's artifacts (the targets each device serves, or
    ``artifacts``), then the rows attached to the bundle: report.json's ``device_results``, a
    "Device rows" section in report.md/report.html, a record per device in manifest.json."""
    from edge_pipeline.remote.bundle_run import benchmark_bundle_on_devices as run_on_bundle
    from edge_pipeline.remote.jobs import Sweep

    sweep = Sweep(batch_sizes or [1], threads or [2], warmup, iterations, streams, time_budget_s, variant, rounds,
                  providers, profile)
    return run_on_bundle(list(devices), Path(devices_file) if devices_file else None, Path(bundle),
                         [Path(a) for a in artifacts or []], sweep, Path(out) if out else None,
                         Path(csv_out) if csv_out else None, Path(eval_data) if eval_data else None)


def compare_benchmarks(baseline: str | Path, candidate: str | Path) -> dict:
    """Per-configuration latency ratios of two `benchmark` result files (candidate / baseline)."""
    from edge_pipeline.standalone import compare_result_files

    return compare_result_files(Path(baseline), Path(candidate))


def _run_stages(recipe, out, overrides, cache_dir, stages: list[str]) -> Path:
    loaded = load_recipe(Path(recipe) if recipe else None, overrides)
    loaded = loaded.model_copy(update={"stages": stages})
    return run_recipe(loaded, Path(out), Path(cache_dir) if cache_dir else None,
                      recipe_file=Path(recipe) if recipe else None)


def _recipe_paths(recipe: Recipe) -> list[Path]:
    """Every file or folder the recipe names (model, checkpoints, data): --out must not hold one."""
    found: list[Path] = []

    def walk(value) -> None:
        if isinstance(value, Path):
            found.append(value)
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list | tuple):
            for item in value:
                walk(item)

    walk(recipe.model_dump())
    return found


def _model_files(recipe: Recipe) -> list[Path]:
    """The files whose size bounds the bundle's (the room check): the model and a student checkpoint."""
    model = recipe.model
    student = recipe.distill.student.checkpoint if recipe.distill is not None else None
    return [p for p in (model.checkpoint, model.program, model.onnx, student) if p is not None]


def compare(baseline: str | Path, new: str | Path, thresholds=None):
    """Gate a new run against a baseline (bundle dirs or report.json files); returns a Comparison."""
    from edge_pipeline.reports.gates.compare import compare_runs
    from edge_pipeline.reports.gates.run_loading import load_run
    from edge_pipeline.reports.gates.thresholds import GateThresholds

    return compare_runs(load_run(baseline), load_run(new), thresholds or GateThresholds())
