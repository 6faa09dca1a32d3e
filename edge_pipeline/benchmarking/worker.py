"""Benchmark one artifact in a process of its own, so peak memory is the artifact's alone.

Run as ``python -m edge_pipeline.benchmarking.worker JOB.json RESULT.json``. Imports numpy, the
artifact's runtime and nothing else heavy: this is what runs on a device with only a runtime.
"""

from __future__ import annotations

import json
import resource
import sys
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


def _sample_shape(job: dict, runner) -> tuple[int, ...]:
    if job.get("sample_shape"):
        return tuple(job["sample_shape"])
    dims = runner.inputs[0].shape[1:]
    if not all(isinstance(d, int) and d > 0 for d in dims):
        from edge_pipeline.errors import DataError

        raise DataError(f"{runner.path}: input dimensions {list(dims)} are dynamic; pass sample data to fix them")
    return tuple(dims)


def _sample_batch(job: dict, eval_inputs: np.ndarray | None, batch_size: int, sample_shape: tuple[int, ...]) -> np.ndarray:
    shape = (batch_size, *sample_shape)
    if eval_inputs is not None and len(eval_inputs) > 0:
        reps = int(np.ceil(batch_size / len(eval_inputs)))
        return np.concatenate([eval_inputs] * reps)[:batch_size].astype(job["dtype"])
    return np.random.default_rng(0).standard_normal(shape).astype(job["dtype"])


def run_job(job: dict) -> dict:
    from edge_pipeline.backends.base import RunnerOptions
    from edge_pipeline.backends.registry import get_backend
    from edge_pipeline.benchmarking.timing import summarize, time_calls

    rss_start = _peak_rss_bytes()
    backend = get_backend(job["backend"])
    eval_inputs = np.load(job["eval_inputs"]) if job.get("eval_inputs") else None
    configs, cold = [], {}
    for threads in job["threads"]:
        options = RunnerOptions(threads=threads, variant=job.get("variant", "default"), settings=job.get("settings", {}))
        load_start = time.perf_counter()
        with backend.runner(Path(job["artifact"]), options) as runner:
            input_name = runner.inputs[0].name
            load_s = time.perf_counter() - load_start
            for batch_size in job["batch_sizes"]:
                fixed = runner.fixed_batch()
                if fixed is not None and fixed != batch_size:
                    configs.append({"batch_size": batch_size, "threads": threads, "skipped": f"model batch is fixed at {fixed}"})
                    continue
                feed = {input_name: _sample_batch(job, eval_inputs, batch_size, _sample_shape(job, runner))}
                first_start = time.perf_counter()
                runner.infer(feed)
                first_ms = (time.perf_counter() - first_start) * 1e3
                cold.setdefault(f"{threads}", {"load_s": load_s, "first_inference_ms": first_ms})
                samples = time_calls(lambda: runner.infer(feed), job["warmup"], job["iterations"], job.get("time_budget_s"))
                stats = summarize(samples)
                configs.append(
                    {
                        "batch_size": batch_size,
                        "threads": threads,
                        "latency_ms": stats,
                        "throughput_per_s": batch_size * 1e3 / stats["p50"],
                        "samples_ms": [round(s, 5) for s in samples],
                    }
                )
            if job.get("logits_out") and eval_inputs is not None and threads == job["threads"][0]:
                _write_logits(runner, input_name, eval_inputs, job)
    return {
        "configs": configs,
        "cold_start": cold,
        "rss_start_bytes": rss_start,
        "peak_rss_bytes": _peak_rss_bytes(),
        "versions": backend.versions(),
    }


def _write_logits(runner, input_name: str, eval_inputs: np.ndarray, job: dict) -> None:
    batch = runner.fixed_batch() or job["eval_batch_size"]
    outputs = []
    for start in range(0, len(eval_inputs), batch):
        chunk = eval_inputs[start : start + batch]
        pad = batch - len(chunk) if runner.fixed_batch() else 0
        if pad:
            chunk = np.concatenate([chunk, np.repeat(chunk[-1:], pad, axis=0)])
        out = runner.infer({input_name: chunk.astype(job["dtype"])})[0]
        outputs.append(out[: len(out) - pad])
    np.save(job["logits_out"], np.concatenate(outputs).astype(np.float32))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
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
