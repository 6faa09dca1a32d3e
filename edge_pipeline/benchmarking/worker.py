"""Benchmark one artifact in a process of its own, so peak memory and cold start are its alone.

Run as ``python -m edge_pipeline.benchmarking.worker JOB.json RESULT.json``. Imports numpy, the
artifact's runtime and nothing else heavy: this is what runs on a device with only a runtime.

The sweep is streams (OpenVINO only) × threads × batch sizes. Each (streams, threads) pair loads
the model once; the first load of the process, with the runtime import before it, is the cold
start. Each batch size is then warmed up (a fixed count, or until the latency settles) and timed.
With ``job["profile"]`` every timed configuration then gets a per-layer profile from a runner
loaded again with the runtime's profiler on.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import threading
import time
from pathlib import Path

import numpy as np


def _peak_rss_bytes() -> int:
    """High-water RSS of this process. /proc's VmHWM starts fresh at exec; ru_maxrss on Linux
    carries the forking parent's peak across exec, so it is only the fallback (macOS)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


InputSpecs = dict[str, tuple[tuple[int, ...], str, tuple[float, float] | None]]


def _layout(job: dict):
    """The job's batch axes and state pairs (a file benchmarked on its own: every batch on axis 0)."""
    from edge_pipeline.calibration.layout import Layout

    layout = Layout.from_json(job.get("layout"))
    given = {spec["name"]: spec.get("batch_axis", 0) for spec in job.get("inputs") or []}
    return Layout({**given, **layout.inputs}, layout.outputs, layout.state)


def _input_specs(job: dict, runner, eval_inputs: dict[str, np.ndarray] | None = None) -> InputSpecs:
    """Per model input: (sample shape, dtype, value range), from the job (the recipe's specs), else the
    model's, with its dynamic dims taken from the sample data where it is given."""
    from edge_pipeline.calibration.layout import sample_axis, without_axis

    given = {spec["name"]: (tuple(spec["sample_shape"]), spec["dtype"], _range(spec.get("value_range")))
             for spec in job.get("inputs") or []}
    layout = _layout(job)
    specs = {}
    for info in runner.inputs:
        if info.name in given or (len(runner.inputs) == 1 and len(given) == 1):
            specs[info.name] = given.get(info.name) or next(iter(given.values()))
            continue
        axis = layout.input_axis(info.name)
        dims = without_axis(info.shape, axis)
        if not all(isinstance(d, int) and d > 0 for d in dims) and eval_inputs and info.name in eval_inputs:
            dims = without_axis(np.shape(eval_inputs[info.name]), sample_axis(axis))
        if not all(isinstance(d, int) and d > 0 for d in dims):
            from edge_pipeline.errors import DataError

            raise DataError(f"{runner.path}: input '{info.name}' has dynamic dimensions {list(dims)}; "
                            "pass sample data (--data) to fix them")
        specs[info.name] = (tuple(dims), info.dtype, None)
    return specs


def _range(value: list | None) -> tuple[float, float] | None:
    return (float(value[0]), float(value[1])) if value else None


def _feed(specs: InputSpecs, eval_inputs: dict[str, np.ndarray] | None, batch_size: int,
          layout=None) -> dict[str, np.ndarray]:
    """One batch for every model input, on its batch axis: real samples where given, else seeded
    synthetic data. An input without a batch axis (a scalar) is fed one sample whole at any batch size."""
    from edge_pipeline.calibration.layout import Layout, feed_slice, repeat_to, sample_count, with_axis

    layout = layout or Layout()
    rng = np.random.default_rng(0)
    feed = {}
    for name, (sample_shape, dtype, value_range) in specs.items():
        axis = layout.input_axis(name)
        samples = eval_inputs.get(name) if eval_inputs else None
        if samples is not None and sample_count(samples, axis) > 0:
            whole = feed_slice(samples, 0, 1, None) if axis is None else repeat_to(samples, batch_size, axis)
            feed[name] = np.asarray(whole).astype(dtype)
        else:
            feed[name] = synthetic(with_axis(sample_shape, axis, batch_size), dtype, value_range, rng)
    return feed


def synthetic(shape: tuple[int, ...], dtype: str, value_range: tuple[float, float] | None,
              rng: np.random.Generator) -> np.ndarray:
    """Seeded data of the input's dtype: integers inside the declared range (no negative token ids),
    booleans as True (an attention mask that keeps every token), floats standard normal."""
    kind = np.dtype(dtype).kind
    if kind == "b":
        return np.ones(shape, dtype=bool)
    if kind in "iu":
        low, high = value_range or (0, 2)
        return rng.integers(int(low), int(high), size=shape).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


def _load_eval_inputs(job: dict):
    """The job's eval arrays as an ArrayDataset (read once per worker), or None."""
    if not job.get("eval_inputs"):
        return None
    from edge_pipeline.calibration.dataset import ArrayDataset

    with np.load(job["eval_inputs"], allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    starts = job.get("sequence_starts")
    flags = None
    if starts is not None:
        flags = np.zeros(len(next(iter(arrays.values()))) if arrays else 0, dtype=bool)
        flags[starts] = True
    return ArrayDataset(arrays, None, job["eval_inputs"], "", _layout(job), flags)


def check_data_shapes(runner, eval_inputs: dict[str, np.ndarray] | None, layout=None) -> None:
    """Data whose samples do not have the model's input shape fails here naming both shapes, not
    in the runtime with its own text (which names neither)."""
    from edge_pipeline.calibration.layout import Layout, sample_axis, with_axis, without_axis

    layout = layout or Layout()
    for info in runner.inputs if eval_inputs else ():
        axis = layout.input_axis(info.name)
        given = without_axis(eval_inputs[info.name].shape, sample_axis(axis))
        expected = without_axis(info.shape, axis)
        fits = len(given) == len(expected) and all(
            not isinstance(want, int) or want <= 0 or want == got for want, got in zip(expected, given, strict=True))
        if not fits:
            from edge_pipeline.errors import DataError

            model_shape = list(with_axis([d if isinstance(d, int) and d > 0 else "?" for d in expected],
                                         sample_axis(axis), "N"))
            raise DataError(f"the data for input '{info.name}' has samples of shape {list(given)} (arrays "
                            f"{list(eval_inputs[info.name].shape)}); {runner.path.name} takes {model_shape}; "
                            "pass data of that shape")


def check_batch_memory(specs: InputSpecs, batch_size: int) -> None:
    from edge_pipeline.benchmarking.memory import oversized_batch

    reason = oversized_batch({name: (shape, dtype) for name, (shape, dtype, _) in specs.items()}, batch_size)
    if reason is not None:
        from edge_pipeline.errors import ConfigError

        raise ConfigError(f"{reason}; time smaller batch sizes")


def refused_batch_sizes(runner, batch_sizes: list[int], layout=None) -> list[int]:
    fixed = _fixed_batch(runner, layout)
    return [] if fixed is None else [b for b in batch_sizes if b != fixed]


def _fixed_batch(runner, layout=None) -> int | None:
    return runner.fixed_batch(layout)


def _refuse(runner, refused: list[int]) -> None:
    from edge_pipeline.errors import ConfigError

    first = runner.inputs[0]
    shape = [d if isinstance(d, int) else "?" for d in first.shape]
    raise ConfigError(
        f"{runner.path.name}: input '{first.name}' has the fixed shape {shape}, so batch size "
        f"{', '.join(map(str, refused))} is refused; use --batch-sizes {runner.fixed_batch()} "
        "or re-export the model with a dynamic batch dimension"
    )


def _sweep(job: dict) -> list[tuple[int | None, int]]:
    return [(streams, threads) for streams in (job.get("streams") or [None]) for threads in job["threads"]]


def run_job(job: dict) -> dict:
    from edge_pipeline.backends.registry import load_runtime_backend, register_record

    if job.get("backend_row"):
        register_record(job["backend_row"])  # a backend registered at run time in the parent process
    rss_start = _peak_rss_bytes()
    import_start = time.perf_counter()
    backend = load_runtime_backend(job["backend"], job["artifact"])
    runtime_import_s = time.perf_counter() - import_start
    eval_data = _load_eval_inputs(job)
    configs, cold, process_cold = [], {}, None
    for streams, threads in _sweep(job):
        options = _runner_options(job, streams, threads)
        load_start = time.perf_counter()
        with backend.runner(Path(job["artifact"]), options) as runner:
            load_s = time.perf_counter() - load_start
            # Keyed by the model's input names (a one-array file feeds a one-input model).
            eval_inputs = eval_data.named_for([i.name for i in runner.inputs]) if eval_data is not None else None
            check_data_shapes(runner, eval_inputs, _layout(job))
            refused = refused_batch_sizes(runner, job["batch_sizes"], _layout(job))
            if refused and job.get("on_fixed_batch", "skip") == "error":
                _refuse(runner, refused)
            for batch_size in job["batch_sizes"]:
                base = {"batch_size": batch_size, "threads": threads, "streams": streams}
                if batch_size in refused:
                    configs.append({**base, "skipped": f"model batch is fixed at {_fixed_batch(runner, _layout(job))}"})
                    continue
                entry = _time_config(job, runner, eval_inputs, batch_size)
                start = {"load_s": load_s, "first_inference_ms": entry.pop("first_inference_ms")}
                cold.setdefault(str(threads), start)
                if process_cold is None:
                    process_cold = {**start, "runtime_import_s": runtime_import_s}
                configs.append({**base, **entry, "load_s": load_s, "first_inference_ms": start["first_inference_ms"]})
            if job.get("outputs_out") and eval_inputs is not None and (streams, threads) == _sweep(job)[0]:
                _write_outputs(runner, eval_inputs, job, eval_data.sequence_start)
    peak_rss = _peak_rss_bytes()  # before any profiling session: the figure is the timed runner's
    if job.get("profile"):
        _add_profiles(job, backend, eval_data, configs)
    return {
        "configs": configs,
        "cold_start": cold,
        "process_cold_start": process_cold,
        "rss_start_bytes": rss_start,
        "peak_rss_bytes": peak_rss,
        "versions": _versions(backend),
    }


def _runner_options(job: dict, streams: int | None, threads: int, profile_prefix: str | None = None):
    from edge_pipeline.backends.base import RunnerOptions

    settings = dict(job.get("settings") or {})
    if streams is not None:
        settings["num_streams"] = streams
    return RunnerOptions(threads=threads, variant=job.get("variant", "default"), settings=settings,
                         profile_prefix=profile_prefix, layout=_layout(job))


def _add_profiles(job: dict, backend, eval_data, configs: list[dict]) -> None:
    """A per-layer profile for every timed configuration, each from a fresh runner with the runtime's
    profiler on, after all timing: the profiler's own cost never reaches a timed figure."""
    from edge_pipeline.benchmarking.profiles import PROFILE_RUNS, PROFILE_WARMUP, summarize

    folder = Path(job["profile"]["dir"])
    folder.mkdir(parents=True, exist_ok=True)
    runs = min(job["iterations"], PROFILE_RUNS)
    for config in configs:
        if "skipped" in config:
            continue
        name = f"b{config['batch_size']}-t{config['threads']}" + (
            f"-s{config['streams']}" if config["streams"] is not None else "")
        options = _runner_options(job, config["streams"], config["threads"], str(folder / name))
        with backend.runner(Path(job["artifact"]), options) as runner:
            eval_inputs = eval_data.named_for([i.name for i in runner.inputs]) if eval_data is not None else None
            feed = _feed(_input_specs(job, runner, eval_inputs), eval_inputs, config["batch_size"], _layout(job))
            found = runner.profile_layers(feed, PROFILE_WARMUP, runs)
        if found is None:
            config["profile"] = {"skipped": f"the {job['backend']} runtime has no per-layer profiler"}
            continue
        config["profile"] = summarize(found, job["profile"].get("top", 10))
        if not job["profile"].get("keep_trace", True):
            config["profile"]["trace"] = None  # written to the worker's scratch folder, gone after it


def _time_config(job: dict, runner, eval_inputs, batch_size: int) -> dict:
    from edge_pipeline.benchmarking.timing import sample, summarize, time_call, warm_up

    specs = _input_specs(job, runner, eval_inputs)
    check_batch_memory(specs, batch_size)
    feed = _feed(specs, eval_inputs, batch_size, _layout(job))
    call = runner.prepare(feed)
    first_ms = time_call(call)
    warmup = warm_up(call, job["warmup"])
    # A runtime that times its own inference (OpenVINO's request.latency) is read after each call,
    # and its timer is the row's latency: it is what the runtime's own benchmark tool reports
    # (benchmark_app's sync loop appends request.latency after each infer()), while our clock adds
    # the Python call (tens of us: 8% of a 0.36 ms IR on a Xeon). Ours stays beside it as call_clock_ms.
    runtime_clock = runner.runtime_latency_ms if runner.has_runtime_clock(feed) else None
    runtime_ms: list[float] = []
    call_ms = sample(call, job["iterations"], job.get("time_budget_s"),
                     None if runtime_clock is None else lambda: runtime_ms.append(runtime_clock()))
    samples = runtime_ms or call_ms
    stats = summarize(samples)
    entry = {
        "latency_ms": stats,
        "latency_clock": "runtime" if runtime_ms else "call",
        "throughput_per_s": batch_size * 1e3 / stats["p50"],
        "samples_ms": [round(s, 5) for s in samples],
        "warmup": warmup,
        "first_inference_ms": first_ms,
    }
    if runtime_ms:
        call_stats = summarize(call_ms)
        entry["call_clock_ms"] = {key: call_stats[key] for key in ("p50", "p90", "p99", "n")}
    if hasattr(runner, "runtime_info"):
        entry["runtime_info"] = runner.runtime_info()
    return entry


def _versions(backend) -> dict:
    from edge_pipeline.benchmarking.host import runtime_versions

    try:
        return {**runtime_versions(), **backend.versions()}
    except ImportError:  # a backend reporting its tooling's version on a runtime-only device
        return runtime_versions()


def _write_outputs(runner, eval_inputs: dict[str, np.ndarray], job: dict,
                   sequence_start: np.ndarray | None = None) -> None:
    """Every output of the model on the eval inputs, joined along each output's batch axis and saved by
    output name (an .npz); closed-loop where the job has state pairs. A fixed batch pads the last
    batch with the last sample, its outputs dropped."""
    from edge_pipeline.calibration.layout import repeat_to, run_all, sample_count, samples

    layout = _layout(job)
    dtypes = {name: spec[1] for name, spec in _input_specs(job, runner, eval_inputs).items()}
    fixed = None if layout.one_at_a_time else _fixed_batch(runner, layout)
    count = sample_count(*_first(eval_inputs, layout))
    arrays = dict(eval_inputs)
    if fixed and count % fixed:
        padded = count + fixed - count % fixed
        arrays = {name: np.concatenate([a, repeat_to(samples(a, count - 1, count, layout.input_axis(name)),
                                                      padded - count, layout.input_axis(name))],
                                       axis=layout.input_axis(name) or 0) for name, a in arrays.items()}
    outputs = run_all(runner.infer, arrays, layout, fixed or job["eval_batch_size"], sequence_start, dtypes)
    kept = {name: samples(value, 0, count, layout.output_axis(name)) for name, value in outputs.items()}
    np.savez(job["outputs_out"], **{name: value.astype(np.float32) for name, value in kept.items()})


def _first(arrays: dict[str, np.ndarray], layout) -> tuple[np.ndarray, int | None]:
    name, array = next(iter(arrays.items()))
    return array, layout.input_axis(name)


# Set by harness.run_worker (kept in step with harness.PARENT_PID_VARIABLE; this module imports
# nothing of the package at start-up, to keep the cold start the runtime's own).
PARENT_PID_VARIABLE = "EDGE_PIPELINE_BENCHMARK_PARENT"
_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """Exit when the process that started this worker dies (killed, out of memory): an orphaned
    worker would go on timing and skew the next run's numbers. Linux: the kernel sends SIGKILL
    (prctl PR_SET_PDEATHSIG); elsewhere a thread watches the parent pid."""
    expected = os.environ.get(PARENT_PID_VARIABLE)
    if not expected:
        return  # started by hand: no parent to follow
    if not _set_death_signal():
        threading.Thread(target=_watch_parent, args=(int(expected),), daemon=True).start()
    if os.getppid() != int(expected):
        os._exit(1)  # the parent died before the death signal was armed


def _set_death_signal() -> bool:
    if not sys.platform.startswith("linux"):
        return False
    import ctypes
    import signal

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _watch_parent(parent: int, every_s: float = 0.5) -> None:
    while os.getppid() == parent:
        time.sleep(every_s)
    os._exit(1)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    die_with_parent()
    job = json.loads(Path(argv[0]).read_text())
    from edge_pipeline.errors import EdgePipelineError

    try:
        result = run_job(job)
    except EdgePipelineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    Path(argv[1]).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
