"""Synthetic runs for report and gate tests: report.json rows shaped like the benchmark stage's,
with real repeated timings drawn around a chosen median, and manifest artifact records.

Building these costs milliseconds, so the compare/HTML tests never run the pipeline.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from edge_pipeline.benchmarking.timing import summarize
from edge_pipeline.reports.json_report import REPORT_SCHEMA_VERSION, add_ratios

ORT = "x86-cpu-onnxruntime"
OV = "x86-cpu-openvino"


def timings(median_ms: float, n: int = 200, spread: float = 0.04, seed: int = 0) -> list[float]:
    """Right-skewed latencies (lognormal) around ``median_ms``, plus a few stalls like a real CPU."""
    rng = np.random.default_rng(seed)
    samples = median_ms * rng.lognormal(0.0, spread, n)
    samples[rng.choice(n, max(n // 50, 1), replace=False)] *= 1.8
    return [float(v) for v in samples]


def make_row(model: str, precision: str, target: str = ORT, *, median_ms: float, accuracy: float | None,
             size_bytes: int, variant: str = "default", batch: int = 1, threads: int = 2,
             params: int = 2_774_282, macs: int = 105_007_616, seed: int = 0, n: int = 200) -> dict:
    backend = "openvino" if "openvino" in target else "onnxruntime"
    samples = timings(median_ms * batch ** 0.8, n=n, seed=seed)
    latency = summarize(samples)
    return {
        "artifact_id": f"{model}/{target}/{precision}",
        "artifact": f"artifacts/{model}/{target}/{precision}/model.onnx",
        "model": model, "backend": backend, "precision": precision, "runtime_variant": variant,
        "target": target, "batch_size": batch, "threads": threads,
        "latency_ms": latency, "samples_ms": samples,
        "throughput_per_s": 1e3 * batch / latency["p50"],
        "accuracy": accuracy, "top1_agreement": None if accuracy is None else 99.5, "max_abs_diff": 0.01,
        "size_bytes": size_bytes, "params": params, "macs": macs,
        "peak_memory_bytes": 12 * 2**20, "peak_rss_bytes": 300 * 2**20, "cold_start": None,
        "runtime_versions": {backend: "1.0"},
    }


def default_rows(seed: int = 0, batches: tuple[int, ...] = (1,)) -> list[dict]:
    """Teacher and student, FP32 and INT8, on ONNX Runtime and OpenVINO (f32/bf16 variants)."""
    rows = []
    for batch in batches:
        for offset, (model, precision, target, variant, ms, acc, size, params) in enumerate([
            ("teacher", "fp32", ORT, "default", 1.50, 98.89, 11_105_645, 2_774_282),
            ("teacher", "int8", ORT, "default", 0.53, 98.70, 2_836_379, 2_774_282),
            ("student", "fp32", ORT, "default", 0.62, 98.52, 2_900_000, 700_000),
            ("student", "int8", ORT, "default", 0.24, 98.33, 760_000, 700_000),
            ("teacher", "fp32", OV, "f32", 1.35, 98.89, 11_105_645, 2_774_282),
            ("teacher", "fp32", OV, "bf16", 0.80, 98.81, 11_105_645, 2_774_282),
            ("teacher", "int8", OV, "default", 0.45, 98.74, 2_900_000, 2_774_282),
        ]):
            rows.append(make_row(model, precision, target, median_ms=ms, accuracy=acc, size_bytes=size, variant=variant,
                                 batch=batch, params=params, macs=params * 38, seed=seed * 100 + offset + batch))
    return rows


def make_report(rows: list[dict], recipe: str = "digits-resnet") -> dict:
    return {
        "schema_version": REPORT_SCHEMA_VERSION,
        "recipe": recipe,
        "targets": sorted({r["target"] for r in rows}),
        "baseline": "teacher FP32 on each target, same batch size and threads",
        "notes": ["synthetic report made by tests/unit/report_factory.py"],
        "results": add_ratios(rows),
    }


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
        "recipe": {"name": recipe, "snapshot": {"model": {"factory": factory, "kwargs": {}, "checkpoint": None, "program": None},
                                                 "input": {"shape": [1, 1, 16, 16], "dtype": "float32"}}},
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
    rows = []
    for row in report["results"]:
        if row["precision"] == "int8":
            fp32 = next(r for r in report["results"] if r["model"] == row["model"] and r["target"] == row["target"]
                        and r["precision"] == "fp32" and r["batch_size"] == row["batch_size"]
                        and r["runtime_variant"] in ("default", "f32"))
            samples = timings(fp32["latency_ms"]["p50"], n=len(fp32["samples_ms"]), seed=seed)
            row = {**row, "samples_ms": samples, "latency_ms": summarize(samples), "size_bytes": fp32["size_bytes"],
                   "accuracy": fp32["accuracy"]}
        rows.append(dict(row))
    return make_report(rows, report["recipe"])
