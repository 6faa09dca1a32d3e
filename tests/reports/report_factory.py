"""Synthetic runs for report and gate tests: BenchmarkRow objects like the benchmark stage's, with
real repeated timings drawn around a chosen median, the report.json that build_report makes of them,
and manifest artifact records.

Building these costs milliseconds, so the compare/HTML tests never run the pipeline.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from edge_pipeline.benchmarking.rows import BenchmarkRow, LatencyStats
from edge_pipeline.benchmarking.timing import summarize
from edge_pipeline.reports.json_report import build_report
from edge_pipeline.reports.report_rows import report_rows

ORT = "x86-cpu-onnxruntime"
OV = "x86-cpu-openvino"


def timings(median_ms: float, n: int = 200, spread: float = 0.04, seed: int = 0) -> list[float]:
    """Right-skewed latencies (lognormal) around ``median_ms``, plus a few stalls like a real CPU."""
    rng = np.random.default_rng(seed)
    samples = median_ms * rng.lognormal(0.0, spread, n)
    samples[rng.choice(n, max(n // 50, 1), replace=False)] *= 1.8
    return [float(v) for v in samples]


def make_row(model: str, precision: str, target: str = ORT, *, median_ms: float, accuracy: float | None,
             size_bytes: int, variant: str = "default", reference: bool = True, simulated: bool = False,
             batch: int = 1, threads: int = 2, params: int = 2_774_282, macs: int = 105_007_616,
             seed: int = 0, n: int = 200) -> BenchmarkRow:
    """``reference``: the variant is its backend's FP32 reference mode (what the registry would say)."""
    backend = "openvino" if "openvino" in target else "onnxruntime"
    samples = timings(median_ms * batch ** 0.8, n=n, seed=seed)
    latency = LatencyStats.model_validate(summarize(samples))
    return BenchmarkRow(
        artifact_id=f"{model}/{target}/{precision}",
        artifact=f"artifacts/{model}/{target}/{precision}/model.onnx",
        model=model, backend=backend, precision=precision, runtime_variant=variant,
        target=target, batch_size=batch, threads=threads,
        latency_ms=latency, samples_ms=samples,
        throughput_per_s=1e3 * batch / latency.p50,
        accuracy=accuracy, top1_agreement=None if accuracy is None else 99.5, max_abs_diff=0.01,
        size_bytes=size_bytes, params=params, macs=macs,
        peak_memory_bytes=12 * 2**20, peak_rss_bytes=300 * 2**20, cold_start=None,
        runtime_versions={backend: "1.0"}, reference_variant=reference, simulated=simulated,
    )


def changed(row: BenchmarkRow, **updates) -> BenchmarkRow:
    """A copy of a (frozen) row with some fields replaced, validated like a row read from report.json."""
    return BenchmarkRow.model_validate({**row.model_dump(), **updates})


def with_timings(row: BenchmarkRow, samples: list[float]) -> BenchmarkRow:
    """The row re-measured: these timings, and the summary the benchmark stage would make of them."""
    return changed(row, samples_ms=samples, latency_ms=summarize(samples))


def default_rows(seed: int = 0, batches: tuple[int, ...] = (1,)) -> list[BenchmarkRow]:
    """Teacher and student, FP32 and INT8, on ONNX Runtime and OpenVINO (f32 reference, bf16 hint)."""
    rows = []
    for batch in batches:
        for offset, (model, precision, target, variant, reference, ms, acc, size, params) in enumerate([
            ("teacher", "fp32", ORT, "default", True, 1.50, 98.89, 11_105_645, 2_774_282),
            ("teacher", "int8", ORT, "default", True, 0.53, 98.70, 2_836_379, 2_774_282),
            ("student", "fp32", ORT, "default", True, 0.62, 98.52, 2_900_000, 700_000),
            ("student", "int8", ORT, "default", True, 0.24, 98.33, 760_000, 700_000),
            ("teacher", "fp32", OV, "f32", True, 1.35, 98.89, 11_105_645, 2_774_282),
            ("teacher", "fp32", OV, "bf16", False, 0.80, 98.81, 11_105_645, 2_774_282),
            ("teacher", "int8", OV, "default", True, 0.45, 98.74, 2_900_000, 2_774_282),
        ]):
            rows.append(make_row(model, precision, target, median_ms=ms, accuracy=acc, size_bytes=size, variant=variant,
                                 reference=reference, batch=batch, params=params, macs=params * 38,
                                 seed=seed * 100 + offset + batch))
    return rows


def make_report(rows: list[BenchmarkRow], recipe: str = "digits-resnet") -> dict:
    """The report.json content build_report makes of these rows (no artifacts placed, no mobile part)."""
    return build_report(recipe, sorted({r.target for r in rows}), rows,
                        ["synthetic report made by tests/reports/report_factory.py"], artifacts=[], placed={})


def make_artifacts() -> list[dict]:
    """Manifest-style records in pipeline order: teacher export, distilled and pruned student, INT8s."""
    def record(stage, model, precision, target, sha, size, params, parent=None):
        return {"id": f"{model}/{target or 'onnx'}/{precision}", "kind": "onnx", "stage": stage, "parent": parent,
                "model": model, "precision": precision, "target": target, "sha256": sha, "size_bytes": size,
                "meta": {"params": params, "macs": params * 38}}
    return [
        record("export", "teacher", "fp32", None, "t32", 11_105_645, 2_774_282),
        record("distill", "student", "fp32", None, "sd", 5_600_000, 1_400_000),
        record("prune", "student", "fp32", None, "sp", 2_900_000, 700_000),
        record("quantize", "teacher", "int8", ORT, "t8", 2_836_379, 2_774_282),
        record("quantize", "student", "int8", ORT, "s8", 760_000, 700_000),
    ]


def make_manifest(recipe: str = "digits-resnet", factory: str = "edge_pipeline.zoo.digits:trained_digits_resnet",
                  cpu: str = "AMD EPYC") -> dict:
    return {
        "schema_version": 1, "kind": "edge_pipeline.bundle",
        "recipe": {"name": recipe, "snapshot": {
            "model": {"factory": factory, "kwargs": {}, "checkpoint": None, "program": None},
            "input": {"shape": [1, 1, 16, 16], "dtype": "float32"},
        }},
        "host": {"cpu_model": cpu, "usable_cpus": 2},
        "tool_versions": {"onnxruntime": "1.32.0"},
        "artifacts": make_artifacts(),
    }


def write_run(directory: Path, report: dict, manifest: dict | None = None) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "report.json").write_text(json.dumps(report))
    if manifest is not None:
        (directory / "manifest.json").write_text(json.dumps(manifest))
    return directory


def with_int8_replaced_by_fp32(report: dict, seed: int = 7) -> dict:
    """The release mistake the latency gate exists for: the INT8 slot ships the FP32 model."""
    rows = report_rows(report)
    swapped = [_shipped_as_fp32(row, rows, seed) if row.precision == "int8" else row for row in rows]
    return make_report(swapped, report["recipe"])


def _shipped_as_fp32(row: BenchmarkRow, rows: list[BenchmarkRow], seed: int) -> BenchmarkRow:
    fp32 = next(r for r in rows if r.model == row.model and r.target == row.target and r.precision == "fp32"
                and r.batch_size == row.batch_size and r.reference_variant)
    samples = timings(fp32.latency_ms.p50, n=len(fp32.samples_ms), seed=seed)
    return changed(with_timings(row, samples), size_bytes=fp32.size_bytes, accuracy=fp32.accuracy)
