"""`edge-pipeline benchmark --device NAME ...`: the local sweep, run on devices over ssh.

Everything that can be checked here is checked before any connection: the devices file, the
artifacts (format, sidecars), the counts' bounds, the result locations, the targets each device
serves. Devices run in parallel, each with its own budget; each gets its own result file (its rows
never mix with another machine's), written even when the run stopped early (marked ``partial``).
"""

from __future__ import annotations

import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from edge_pipeline import errors
from edge_pipeline.artifacts.atomic import write_json, write_text
from edge_pipeline.artifacts.outputs import output_errors
from edge_pipeline.errors import ConfigError, DeviceError, EdgePipelineError, StageError
from edge_pipeline.remote.devices import Device, devices_path, load_devices, pick
from edge_pipeline.remote.session import Outcome, Session, Upload
from edge_pipeline.remote.ssh import Link


class DevicesFailedError(DeviceError):
    """One or more devices failed; ``reports`` holds what every device did measure (written already)."""

    def __init__(self, message: str, reports: dict[str, dict], written: dict[str, tuple[Path | None, Path | None]],
                 exit_code: int):
        super().__init__(message)
        self.reports, self.written, self.exit_code = reports, written, exit_code


def benchmark_on_devices(names: list[str], devices_file: Path | None, paths: list[Path], out: Path | None,
                         eval_data: Path | None, batch_sizes: list[int], threads: list[int], warmup: int | str,
                         iterations: int, streams: list[int] | None = None, csv_out: Path | None = None,
                         time_budget_s: float | None = None, variant: str | None = None, rounds: int = 1,
                         providers: list[str] | None = None, profile: int | None = None) -> dict[str, dict]:
    """{device name: report} as `benchmark_files` returns for this host; raises DevicesFailedError (exit
    10, or the failure's own code when only one device failed) after writing every result."""
    from edge_pipeline.benchmarking.harness import check_job
    from edge_pipeline.benchmarking.scratch import claim_temp_root
    from edge_pipeline.remote.pack import build_zipapp
    from edge_pipeline.standalone import _eval_inputs, _file_job, detect_backend

    claim_temp_root()
    if rounds < 1:
        raise ConfigError(f"rounds must be at least 1, got {rounds}")
    file = devices_path(devices_file)
    chosen = pick(load_devices(file), names, file)
    outputs = {name: device_outputs(out, csv_out, name, len(chosen) > 1) for name in chosen}
    for json_out, csv_path in outputs.values():
        _check_outputs(json_out, csv_path, [*paths, *([eval_data] if eval_data else [])])
    backends = {path: "tensorrt" if is_device_bundle(path) else detect_backend(path) for path in paths}
    for name, device in chosen.items():
        check_targets(name, device, paths, file)
    settings = {"batch_sizes": batch_sizes, "threads": threads, "streams": streams, "warmup": warmup,
                "iterations": iterations, "time_budget_s": time_budget_s, "variant": variant, "rounds": rounds,
                "providers": providers, "profile": profile}
    with tempfile.TemporaryDirectory(prefix="ep-remote-") as tmp:
        eval_inputs = _eval_inputs(eval_data, Path(tmp))
        jobs = [_bundle_job(path, batch_sizes) if is_device_bundle(path) else
                _remote_options(_file_job(path, backends[path], batch_sizes, threads, warmup, iterations, streams,
                                          time_budget_s, variant, eval_inputs), providers, profile) for path in paths]
        for job in jobs:
            if not job.get("bundle"):
                check_job(job)  # here: the device has no pydantic for the bounds
        upload = Upload([_with_sidecars(path) for path in paths], eval_inputs, build_zipapp(Path(tmp) / "bench.pyz"),
                        [runtime_module(path) for path in paths])
        remote_jobs = [_relative(job, index, path) for index, (job, path) in enumerate(zip(jobs, paths, strict=True))]
        with ThreadPoolExecutor(max_workers=len(chosen)) as pool:
            outcomes = list(pool.map(lambda item: _one_device(item[0], item[1], file, remote_jobs, rounds, upload,
                                                              paths, jobs, settings), chosen.items()))
    return _write_all(outcomes, outputs)


def device_outputs(out: Path | None, csv_out: Path | None, name: str,
                   several: bool) -> tuple[Path | None, Path | None]:
    """As locally (a folder gets benchmark.json); with several devices each gets its own files,
    named after it: r.json -> r.<device>.json, a folder -> benchmark.<device>.json."""
    from edge_pipeline.standalone import benchmark_outputs

    out, csv_out = benchmark_outputs(out, csv_out)
    if not several:
        return out, csv_out
    return (_per_device(out, name), _per_device(csv_out, name))


def _per_device(path: Path | None, name: str) -> Path | None:
    return None if path is None else path.with_name(f"{path.stem}.{name}{path.suffix}")


def _check_outputs(out: Path | None, csv_out: Path | None, inputs: list[Path]) -> None:
    from edge_pipeline.standalone import _check_result_files

    _check_result_files(out, csv_out, inputs)


def check_targets(name: str, device: Device, paths: list[Path], file: Path) -> None:
    """A bundle's artifact (…/artifacts/<model>/<target>/<precision>/…) must be of a target the
    device serves, when its entry lists targets: timing x86 artifacts on a Jetson answers nothing."""
    if not device.targets:
        return
    for path in paths:
        parts = path.resolve().parts
        if "artifacts" not in parts:
            continue
        at = len(parts) - 1 - parts[::-1].index("artifacts")
        target = parts[at + 2] if len(parts) > at + 3 else None
        if target is not None and target not in device.targets:
            raise ConfigError(f"{path} is built for target {target}, which device '{name}' does not serve "
                              f"({', '.join(device.targets)}); pick that target's artifacts or add the target "
                              f"to its targets in {file}")


def is_device_bundle(path: Path) -> bool:
    """A TensorRT device bundle folder (the Jetson target's): timed by its own script on the device."""
    from edge_pipeline.backends.tensorrt.bundle import SCRIPT_NAME
    from edge_pipeline.backends.tensorrt.device_script import PLAN_FILE

    return path.is_dir() and (path / PLAN_FILE).is_file() and (path / SCRIPT_NAME).is_file()


def _bundle_job(path: Path, batch_sizes: list[int]) -> dict:
    """The bundle's plan sets warm-up and iterations; TensorRT has no thread count to sweep."""
    from edge_pipeline.backends.tensorrt.bundle import SCRIPT_NAME

    return {"backend": "tensorrt", "artifact": str(path.resolve()), "variant": "tensorrt", "bundle": SCRIPT_NAME,
            "batch_sizes": batch_sizes, "threads": [None], "streams": None}


def _sha256(path: Path) -> str:
    """A bundle is identified by its Q/DQ ONNX, so its rows match the same ONNX timed elsewhere."""
    if is_device_bundle(path):
        from edge_pipeline.backends.tensorrt.device_script import load_plan

        return load_plan(path)["model_sha256"]
    from edge_pipeline.standalone import _content_sha256

    return _content_sha256(path)


def runtime_module(path: Path) -> str:
    """The module that runs ``path`` (a stand-in runtime's where its format names one)."""
    from edge_pipeline.backends.registry import detect

    if is_device_bundle(path):
        return "tensorrt"

    row, found = detect(path)
    return found.runtime_module or row.runtime_module


def _with_sidecars(path: Path) -> list[Path]:
    from edge_pipeline.backends.registry import detect

    if is_device_bundle(path):
        return [path]  # the folder, copied whole

    _, found = detect(path)
    return [path, *(p for p in found.sidecar_paths(path) if p.is_file())]


def _remote_options(job: dict, providers: list[str] | None, profile: int | None) -> dict:
    """--provider and --profile as locally, except that providers are checked by the device's runtime
    (this host's build may lack CUDA where the board's has it) and profiler traces stay there."""
    if providers and job["backend"] == "onnxruntime":
        from edge_pipeline.backends.onnxruntime.providers import parse_providers

        job = {**job, "settings": {**(job.get("settings") or {}), "providers": parse_providers(providers)}}
    if profile:
        job = {**job, "profile": {"top": profile, "dir": None}}
    return job


def _relative(job: dict, index: int, path: Path) -> dict:
    """The job as the device sees it: paths inside its run folder."""
    job = {**job, "artifact": f"artifacts/{index}/{path.name}"}
    if job.get("eval_inputs"):
        job["eval_inputs"] = f"data/{Path(job['eval_inputs']).name}"
    return job


def _one_device(name: str, device: Device, file: Path, remote_jobs: list[dict], rounds: int, upload: Upload,
                paths: list[Path], jobs: list[dict], settings: dict) -> Outcome:
    link = Link(name, device, file)
    try:
        probed, events, stopped = Session(link).run(remote_jobs, rounds, upload)
    except EdgePipelineError as error:
        return Outcome(name, None, error)
    return assemble(link, probed, events, stopped, paths, jobs, settings)


def assemble(link: Link, probed: dict, events: list[dict], stopped: str | None, paths: list[Path],
             jobs: list[dict], settings: dict) -> Outcome:
    """The report `benchmark` writes locally, from the device's events: rounds pooled, skip reasons,
    failed files kept as skipped; plus the device's record. Unreached files are marked not timed."""
    from edge_pipeline.benchmarking.results import RESULT_KIND, RESULT_SCHEMA_VERSION
    from edge_pipeline.benchmarking.rounds import pool_rounds
    from edge_pipeline.standalone import _check_something_timed, _failed_file, _with_skip_reasons

    measured: list[list[dict]] = [[] for _ in paths]
    failures: dict[int, EdgePipelineError] = {}
    fingerprint = probed.get("fingerprint", {})
    for event in events:
        if event["event"] in ("start", "done"):
            fingerprint = event["fingerprint"]
        elif event["event"] == "measured":
            measured[event["index"]].append(event["result"])
        elif event["event"] == "failed":
            failures[event["index"]] = _rebuilt(link, event["error"], event["index"], paths)
    results = []
    for index, (path, job) in enumerate(zip(paths, jobs, strict=True)):
        if measured[index]:
            entry = _with_skip_reasons(pool_rounds(measured[index]))
        else:
            entry = _failed_file(job, failures.get(index) or DeviceError(f"not timed: {stopped}"))
        results.append({"artifact": str(path), "backend": job["backend"], "variant": job["variant"],
                        "sha256": _sha256(path), "device": link.name, **entry})
    report = {"schema_version": RESULT_SCHEMA_VERSION, "kind": RESULT_KIND, "host": fingerprint,
              "device": link.device.record(link.name), "settings": {**settings, "device": link.name},
              "results": results}
    error: EdgePipelineError | None = DeviceError(stopped) if stopped else None
    if stopped:
        report["partial"] = {"reason": stopped}
    error = error or next((e for e in failures.values() if isinstance(e, DeviceError)), None)
    if error is None:
        try:
            _check_something_timed(results, [failures[i] for i in sorted(failures)])
        except EdgePipelineError as failed:
            error = failed
    return Outcome(link.name, report, error)


def _rebuilt(link: Link, error: dict, index: int, paths: list[Path]) -> EdgePipelineError:
    """A worker's failure on the device as the same error type, naming this host's file."""
    message = error["message"].replace(f"artifacts/{index}/{paths[index].name}", str(paths[index]))
    if "no space left on device" in message.lower():
        return DeviceError(f"{link.where()}: its disk filled up while timing {paths[index].name}; free space under "
                           f"{link.device.workdir} there or point workdir at a larger disk in {link.devices_file}")
    kind = getattr(errors, error["type"], None)
    kind = kind if isinstance(kind, type) and issubclass(kind, EdgePipelineError) else StageError
    return kind(f"device '{link.name}': {message}")


def _write_all(outcomes: list[Outcome], outputs: dict[str, tuple[Path | None, Path | None]]) -> dict[str, dict]:
    from edge_pipeline.benchmarking.results import to_csv

    reports, written, problems = {}, {}, []
    for outcome in outcomes:
        out, csv_out = outputs[outcome.name]
        if outcome.report is not None:
            reports[outcome.name] = outcome.report
            written[outcome.name] = (out, csv_out)
            if out is not None:
                with output_errors(out):
                    write_json(out, outcome.report)
            if csv_out is not None:
                with output_errors(csv_out, "--csv"):
                    write_text(csv_out, to_csv(outcome.report))
        if outcome.error is not None:
            problems.append((outcome, out))
    if problems:
        raise _failure(problems, reports, written)
    return reports


def _failure(problems: list[tuple[Outcome, Path | None]], reports: dict[str, dict],
             written: dict[str, tuple[Path | None, Path | None]]) -> DevicesFailedError:
    parts = []
    for outcome, out in problems:
        text = str(outcome.error)
        if outcome.report is not None and outcome.report.get("partial") and out is not None:
            text += f"; what was measured before is in {out} (marked partial)"
        parts.append(text)
    # One device: its own exit code (3 for a runtime missing there); several: 10.
    code = problems[0][0].error.exit_code if len(problems) == 1 else DeviceError.exit_code  # type: ignore[union-attr]
    return DevicesFailedError("; ".join(parts), reports, written, code)
