"""The jobs a device runs, built here as `benchmark` builds them locally (standalone.file_job), and
what each artifact needs there: its files, its runtime, the identity its rows carry."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from edge_pipeline.calibration.layout import Layout


@dataclass(frozen=True)
class Sweep:
    """What `benchmark` sweeps and how (its CLI flags), for one device."""

    batch_sizes: list[int]
    threads: list[int]
    warmup: int | str = 20
    iterations: int = 200
    streams: list[int] | None = None
    time_budget_s: float | None = None
    variant: str | None = None
    rounds: int = 1
    providers: list[str] | None = None
    profile: int | None = None

    def settings(self) -> dict:
        return {"batch_sizes": self.batch_sizes, "threads": self.threads, "streams": self.streams,
                "warmup": self.warmup, "iterations": self.iterations, "time_budget_s": self.time_budget_s,
                "variant": self.variant, "rounds": self.rounds, "providers": self.providers, "profile": self.profile}


def device_job(path: Path, sweep: Sweep, eval_inputs: Path | None, layout: Layout | None = None) -> dict:
    """``layout``: the run's batch axes and state pairs (a bundle's recipe), so the device's worker
    feeds each input its batch on its own axis, as the local benchmark does; None: axis 0 throughout."""
    from edge_pipeline.standalone import detect_backend, file_job

    if is_device_bundle(path):
        return _bundle_job(path, sweep.batch_sizes)
    job = file_job(path, detect_backend(path), sweep.batch_sizes, sweep.threads, sweep.warmup, sweep.iterations,
                   sweep.streams, sweep.time_budget_s, sweep.variant, eval_inputs)
    if layout is not None and not layout.is_default:
        job["layout"] = layout.to_json()
    return _remote_options(job, sweep.providers, sweep.profile)


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


def content_identity(path: Path) -> str:
    """A bundle is identified by its Q/DQ ONNX, so its rows match the same ONNX timed elsewhere."""
    if is_device_bundle(path):
        from edge_pipeline.backends.tensorrt.device_script import load_plan

        return load_plan(path)["model_sha256"]
    from edge_pipeline.standalone import content_sha256

    return content_sha256(path)


def runtime_module(path: Path) -> str:
    """The module that runs ``path`` (a stand-in runtime's where its format names one)."""
    from edge_pipeline.backends.registry import detect

    if is_device_bundle(path):
        return "tensorrt"

    row, found = detect(path)
    return found.runtime_module or row.runtime_module


def with_sidecars(path: Path) -> list[Path]:
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


def relative_job(job: dict, index: int, path: Path) -> dict:
    """The job as the device sees it: paths inside its run folder."""
    job = {**job, "artifact": f"artifacts/{index}/{path.name}"}
    if job.get("eval_inputs"):
        job["eval_inputs"] = f"data/{Path(job['eval_inputs']).name}"
    return job
