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

from edge_pipeline.calibration.layout import Layout
from edge_pipeline.errors import ConfigError, EdgePipelineError
from edge_pipeline.remote.assemble import assemble
from edge_pipeline.remote.devices import Device, devices_path, load_devices, pick
from edge_pipeline.remote.jobs import Sweep, device_job, relative_job, runtime_module, with_sidecars
from edge_pipeline.remote.result_files import check_outputs, device_outputs, keep_engines_beside, write_all
from edge_pipeline.remote.session import Outcome, Session, Upload
from edge_pipeline.remote.ssh import Link


def benchmark_on_devices(names: list[str], devices_file: Path | None, paths: list[Path], out: Path | None,
                         eval_data: Path | None, batch_sizes: list[int], threads: list[int], warmup: int | str,
                         iterations: int, streams: list[int] | None = None, csv_out: Path | None = None,
                         time_budget_s: float | None = None, variant: str | None = None, rounds: int = 1,
                         providers: list[str] | None = None, profile: int | None = None) -> dict[str, dict]:
    """{device name: report} as `benchmark_files` returns for this host; raises DevicesFailedError (exit
    10, or the failure's own code when only one device failed) after writing every result. A device
    bundle's engine and its own timings come back beside the results (``<out stem>-engines/``)."""
    from edge_pipeline.benchmarking.scratch import claim_temp_root

    claim_temp_root()
    sweep = Sweep(batch_sizes, threads, warmup, iterations, streams, time_budget_s, variant, rounds, providers,
                  profile)
    file = devices_path(devices_file)
    chosen = pick(load_devices(file), names, file)
    outputs = {name: device_outputs(out, csv_out, name, len(chosen) > 1) for name in chosen}
    for json_out, csv_path in outputs.values():
        check_outputs(json_out, csv_path, [*paths, *([eval_data] if eval_data else [])])
    for name, device in chosen.items():
        check_targets(name, device, paths, file)
    with tempfile.TemporaryDirectory(prefix="ep-remote-") as tmp:
        outcomes = run_on_devices(chosen, file, {name: paths for name in chosen}, {name: sweep for name in chosen},
                                  Path(tmp), eval_data, pull=out is not None)
        for outcome in outcomes:
            keep_engines_beside(outcome, outputs[outcome.name][0])
    return write_all(outcomes, outputs)


def run_on_devices(chosen: dict[str, Device], file: Path, plans: dict[str, list[Path]], sweeps: dict[str, Sweep],
                   scratch: Path, eval_data: Path | None, pull: bool, layout: Layout | None = None) -> list[Outcome]:
    """Each device times its ``plans`` files with its sweep, all devices in parallel; every file is
    checked here first. ``pull``: files a device offers back (a Jetson engine) land under ``scratch``.
    ``layout``: the files' batch axes and state pairs where a recipe gives them (a bundle's)."""
    from edge_pipeline.benchmarking.harness import check_job
    from edge_pipeline.remote.pack import build_zipapp
    from edge_pipeline.standalone import eval_inputs_file

    for sweep in sweeps.values():
        if sweep.rounds < 1:
            raise ConfigError(f"rounds must be at least 1, got {sweep.rounds}")
    eval_inputs = eval_inputs_file(eval_data, scratch)
    jobs = {name: [device_job(path, sweeps[name], eval_inputs, layout) for path in plans[name]] for name in chosen}
    for job in (job for device_jobs in jobs.values() for job in device_jobs if not job.get("bundle")):
        check_job(job)  # here: the device has no pydantic for the bounds
    zipapp = build_zipapp(scratch / "bench.pyz")

    def one(name: str) -> Outcome:
        paths = plans[name]
        upload = Upload([with_sidecars(path) for path in paths], eval_inputs, zipapp,
                        [runtime_module(path) for path in paths])
        remote_jobs = [relative_job(job, index, path) for index, (job, path) in enumerate(zip(jobs[name], paths,
                                                                                            strict=True))]
        pull_to = scratch / "pulled" / name if pull else None
        return _one_device(name, chosen[name], file, remote_jobs, sweeps[name].rounds, upload, paths, jobs[name],
                           sweeps[name].settings(), pull_to)

    with ThreadPoolExecutor(max_workers=len(chosen)) as pool:
        return list(pool.map(one, chosen))


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


def _one_device(name: str, device: Device, file: Path, remote_jobs: list[dict], rounds: int, upload: Upload,
                paths: list[Path], jobs: list[dict], settings: dict, pull_to: Path | None) -> Outcome:
    link = Link(name, device, file)
    try:
        probed, events, stopped = Session(link, pull_to).run(remote_jobs, rounds, upload)
    except EdgePipelineError as error:
        return Outcome(name, None, error)
    return assemble(link, probed, events, stopped, paths, jobs, settings)
