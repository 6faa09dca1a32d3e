"""`edge-pipeline benchmark --device NAME --bundle B` and the recipe's ``benchmark.remote``: time a
bundle's artifacts on devices and attach the rows to it (attach.py).

Everything is checked before a connection: the bundle (marked, its manifest readable), the devices
file and names, which artifacts each device times and that they still match their manifest sha256,
the result files. A device that fails keeps what it measured: those rows are attached, marked
partial, and then the failure is raised (DevicesFailedError, exit 10 or the failure's own code).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from edge_pipeline.artifacts.outputs import check_output_folder
from edge_pipeline.config.schema import BenchmarkConfig, RemoteBenchmark, effective_stage_config
from edge_pipeline.progress import progress
from edge_pipeline.remote.attach import attach
from edge_pipeline.remote.benchmark import run_on_devices
from edge_pipeline.remote.bundle_plan import bundle_layout, plan_devices, read_bundle
from edge_pipeline.remote.devices import Device, devices_path, load_devices, pick
from edge_pipeline.remote.jobs import Sweep
from edge_pipeline.remote.result_files import check_outputs, device_outputs, write_all


def benchmark_bundle_on_devices(names: list[str], devices_file: Path | None, bundle: Path, artifacts: list[Path],
                                sweeps: Sweep | dict[str, Sweep], out: Path | None = None,
                                csv_out: Path | None = None, eval_data: Path | None = None) -> dict[str, dict]:
    """{device: report}; the rows are attached to ``bundle`` before any failure is raised.
    ``sweeps``: one for every device, or one per device name."""
    from edge_pipeline.benchmarking.scratch import claim_temp_root

    claim_temp_root()
    manifest = read_bundle(bundle)
    # Writable, with room, and not the current folder (the update swaps the folder whole).
    check_output_folder(bundle, option="--bundle")
    file, chosen = chosen_devices(names, devices_file)
    plans = plan_devices(bundle, manifest, chosen, artifacts, file)
    outputs = {name: device_outputs(out, csv_out, name, len(chosen) > 1) for name in chosen}
    for json_out, csv_path in outputs.values():
        check_outputs(json_out, csv_path, [bundle, *([eval_data] if eval_data else [])])
    per_device = sweeps if isinstance(sweeps, dict) else {name: sweeps for name in chosen}
    with tempfile.TemporaryDirectory(prefix="ep-remote-") as tmp:
        outcomes = run_on_devices(chosen, file, {name: [a.path for a in plan] for name, plan in plans.items()},
                                  per_device, Path(tmp), eval_data, pull=True, layout=bundle_layout(bundle, manifest))
        attached = attach(bundle, outcomes, plans, chosen)
    progress("benchmark", f"{attached} device rows attached to {bundle}")
    return write_all(outcomes, outputs)


def chosen_devices(names: list[str], devices_file: Path | None) -> tuple[Path, dict[str, Device]]:
    file = devices_path(devices_file)
    return file, pick(load_devices(file), names, file)


def recipe_sweeps(remote: RemoteBenchmark, recipe_benchmark: BenchmarkConfig, manifest: dict) -> dict[str, Sweep]:
    """Per device, the run's benchmark settings for the first bundle target it serves (the recipe's
    keys over that target's defaults, as the local benchmark used them)."""
    _, chosen = chosen_devices(remote.devices, remote.devices_file)
    sweeps = {}
    for name, device in chosen.items():
        target = next((t for t in device.targets if t in manifest.get("targets", {})), None)
        config = recipe_benchmark if target is None else effective_stage_config(
            recipe_benchmark, BenchmarkConfig.model_validate(manifest["targets"][target]["benchmark"]))
        sweeps[name] = Sweep(config.batch_sizes, config.threads, config.warmup, config.iterations,
                             time_budget_s=config.time_budget_s, rounds=config.rounds)
    return sweeps


def check_remote(remote: RemoteBenchmark, recipe_targets: list[str]) -> None:
    """Before the run: the devices file reads, names its devices, and each serves one of the targets."""
    from edge_pipeline.errors import ConfigError

    file, chosen = chosen_devices(remote.devices, remote.devices_file)
    for name, device in chosen.items():
        if not set(device.targets) & set(recipe_targets):
            raise ConfigError(f"benchmark.remote: device '{name}' serves {device.targets or 'no targets'} in {file}, "
                              f"none of the recipe's targets {recipe_targets}; list its targets there")


def run_remote(remote: RemoteBenchmark, recipe_benchmark: BenchmarkConfig, bundle: Path) -> dict[str, dict]:
    """After the run: the bundle's artifacts on the recipe's devices, rows attached to the bundle."""
    sweeps = recipe_sweeps(remote, recipe_benchmark, read_bundle(bundle))
    return benchmark_bundle_on_devices(remote.devices, remote.devices_file, bundle, [], sweeps)
