"""Parent side of a benchmark: write the job, run the worker process, read its result."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from edge_pipeline.errors import BackendUnavailableError, ConfigError, StageError

# The worker's exit code -> the error the parent raises (2: bad input such as a refused batch size).
_ERRORS_BY_EXIT_CODE = {BackendUnavailableError.exit_code: BackendUnavailableError, ConfigError.exit_code: ConfigError}


def run_worker(job: dict, workdir: Path) -> dict:
    """Run ``edge_pipeline.benchmarking.worker`` on ``job``; raise with its message if it fails."""
    from edge_pipeline.backends.registry import descriptor_record

    workdir.mkdir(parents=True, exist_ok=True)
    job = {**job, "backend_row": descriptor_record(job["backend"])}
    job_path, result_path = workdir / "job.json", workdir / "result.json"
    job_path.write_text(json.dumps(job, default=str))
    env = dict(os.environ)
    # Thread counts are set per session; keep OpenMP/MKL pools from adding their own.
    env.setdefault("OMP_NUM_THREADS", str(max(job["threads"])))
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


def write_eval_inputs(arrays: dict[str, np.ndarray], workdir: Path) -> Path:
    """The worker's inputs, one array per model input name (an .npz)."""
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / "eval_inputs.npz"
    if not path.exists():
        np.savez(path, **arrays)
    return path
