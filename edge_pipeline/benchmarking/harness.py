"""Parent side of a benchmark: write the job, run the worker process, read its result."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from edge_pipeline.errors import BackendUnavailableError, ConfigError, StageError

PARENT_PID_VARIABLE = "EDGE_PIPELINE_BENCHMARK_PARENT"

# The worker's exit code -> the error the parent raises (2: bad input such as a refused batch size).
_ERRORS_BY_EXIT_CODE = {BackendUnavailableError.exit_code: BackendUnavailableError, ConfigError.exit_code: ConfigError}


def run_worker(job: dict, workdir: Path) -> dict:
    """Run ``edge_pipeline.benchmarking.worker`` on ``job``; raise with its message if it fails."""
    check_job(job)
    return run_checked_worker(job, workdir)


def run_checked_worker(job: dict, workdir: Path) -> dict:
    """``run_worker`` for a job already checked: a remote device runs jobs its host checked (the
    bounds' module needs pydantic, which a device with only numpy and a runtime lacks)."""
    from edge_pipeline.backends.registry import descriptor_record

    workdir.mkdir(parents=True, exist_ok=True)
    job = {**job, "backend_row": descriptor_record(job["backend"])}
    if job.get("profile"):
        job["profile"] = profile_settings(job["profile"], workdir)
    job_path, result_path = workdir / "job.json", workdir / "result.json"
    job_path.write_text(json.dumps(job, default=str))
    env = dict(os.environ)
    # Thread counts are set per session; keep OpenMP/MKL pools from adding their own.
    env.setdefault("OMP_NUM_THREADS", str(max(job["threads"])))
    # The worker dies with this process (see worker.die_with_parent): an orphan would keep timing
    # and skew the next run's numbers.
    env[PARENT_PID_VARIABLE] = str(os.getpid())
    proc = subprocess.run(
        [sys.executable, "-m", "edge_pipeline.benchmarking.worker", str(job_path), str(result_path)],
        capture_output=True,
        text=True,
        env=env,
    )
    if proc.returncode != 0:
        lines = [line for line in proc.stderr.strip().splitlines() if line.strip()]
        message = lines[-1] if lines else f"exit code {proc.returncode}"
        error_type = _ERRORS_BY_EXIT_CODE.get(proc.returncode, StageError)
        raise error_type(f"benchmark of {job['artifact']} failed: {message.removeprefix('error: ')}")
    return json.loads(result_path.read_text())


def profile_settings(profile: dict, workdir: Path) -> dict:
    """Where the worker writes profiler traces: the caller's folder (beside the results), else this
    job's scratch folder, whose traces go with it. Never the cwd, ORT's default."""
    if profile.get("dir"):
        return {**profile, "dir": str(Path(profile["dir"]).resolve())}
    return {**profile, "dir": str((workdir / "profiles").resolve()), "keep_trace": False}


def check_job(job: dict) -> None:
    """The counts a job times with, inside the bounds a recipe and the CLI allow (an API caller
    skips both): 0 iterations would fail with an IndexError, 10**26 would never finish."""
    from edge_pipeline.config import bounds

    checks = [("iterations", job["iterations"], bounds.ITERATIONS)]
    checks += [("batch size", size, bounds.BATCH_SIZE) for size in job["batch_sizes"]]
    checks += [("threads", count, bounds.THREADS) for count in job["threads"]]
    if job["warmup"] != "auto":
        checks.append(("warmup", job["warmup"], bounds.WARMUP))
    if job.get("time_budget_s") is not None:
        checks.append(("time budget (s)", job["time_budget_s"], bounds.TIME_BUDGET_S))
    if job.get("profile") and int(job["profile"].get("top", 1)) < 1:
        raise ConfigError(f"benchmark of {job['artifact']}: a profile shows at least 1 layer, got "
                          f"{job['profile']['top']}")
    if not job["batch_sizes"] or not job["threads"]:
        raise ConfigError(f"benchmark of {job['artifact']}: list at least one batch size and one thread count")
    for name, value, allowed in checks:
        reason = bounds.out_of_range(value, allowed)
        if reason is not None:
            raise ConfigError(f"benchmark of {job['artifact']}: {name} {reason}")


def write_eval_inputs(arrays: dict[str, np.ndarray], workdir: Path) -> Path:
    """The worker's inputs, one array per model input name (an .npz)."""
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / "eval_inputs.npz"
    if not path.exists():
        np.savez(path, **arrays)
    return path
