"""Benchmark stage: time every target artifact in its own process and score it on the eval split."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from edge_pipeline.artifacts.record import Artifact
from edge_pipeline.backends.registry import get_backend
from edge_pipeline.benchmarking.accuracy import agreement, top1_accuracy
from edge_pipeline.benchmarking.harness import run_worker, write_eval_inputs
from edge_pipeline.benchmarking.rounds import pool_rounds
from edge_pipeline.benchmarking.host import host_arch, measurement_scope, timing_identity
from edge_pipeline.config.schema import BenchmarkConfig, effective_stage_config
from edge_pipeline.stages.context import RunContext, cached_step
from edge_pipeline.stages.data import eval_dataset


def run(ctx: RunContext) -> None:
    evaluation = eval_dataset(ctx)
    plan = timing_plan(ctx)
    rounds: list[list[dict]] = [[] for _ in plan]
    # Round after round over every artifact (not all rounds of one, then the next): the rows a
    # speedup compares are then timed across the same stretch of the machine's load.
    for round_index in range(max((config.rounds for _, _, config, _ in plan), default=0)):
        for results, (artifact, variant, config, settings) in zip(rounds, plan):
            if round_index < config.rounds:
                results.append(measure(ctx, artifact, variant, config, evaluation, settings, round_index))
    measured = [(artifact, variant, pool_rounds(results)) for results, (artifact, variant, _, _) in zip(rounds, plan)]
    ctx.results += build_rows(measured, evaluation)
    _label_host_measurements(ctx)


def timing_plan(ctx: RunContext) -> list[tuple[Artifact, str, BenchmarkConfig, dict]]:
    """(artifact, runtime variant, benchmark config, target options) for every timed row."""
    plan = []
    for artifact in [a for a in ctx.artifacts if a.target is not None and a.backend is not None]:
        target = ctx.targets[artifact.target]
        config = effective_stage_config(ctx.recipe.benchmark, target.benchmark)
        backend = get_backend(artifact.backend)
        if backend.artifact_kinds and artifact.kind not in backend.artifact_kinds:
            continue  # files beside the models (e.g. ORT's required_operators.config), nothing to time
        plan += [(artifact, variant, config, target.options) for variant in backend.variants_for(artifact, target)]
    return plan


def _label_host_measurements(ctx: RunContext) -> None:
    """Rows of targets whose instruction set this host lacks time the artifact here, not on the device."""
    for row in ctx.results:
        row["measured_on"] = measurement_scope(ctx.targets[row["target"]].device.arch)
    foreign = sorted({r["target"] for r in ctx.results if r["measured_on"] == "host"})
    if foreign:
        ctx.notes.append(
            f"Rows for {', '.join(foreign)} were timed on this {host_arch()} host: host measurements of those "
            "artifacts, not device numbers; run `edge-pipeline benchmark` on the device for those."
        )


def measure(ctx: RunContext, artifact: Artifact, variant: str, config: BenchmarkConfig, evaluation, settings: dict,
            round_index: int = 0) -> dict:
    """One round: a worker process times the artifact; the first round also scores it."""
    scored = round_index == 0 and evaluation is not None
    material = {
        "round": round_index,
        "artifact": artifact.sha256,
        "variant": variant,
        "config": config.model_dump(),
        "eval": evaluation.sha256 if evaluation is not None else None,
        "host": timing_identity(),
        "settings": settings,
    }

    def produce(directory: Path):
        with tempfile.TemporaryDirectory(prefix="ep-bench-") as tmp:
            job = worker_job(ctx, artifact, variant, config, evaluation, settings, Path(tmp), scored)
            result = run_worker(job, Path(tmp))
            if scored:
                result["logits"] = np.load(job["logits_out"]).tolist()
        return [], result

    step = f"{artifact.id} [{variant}]" + (f" round {round_index + 1}/{config.rounds}" if config.rounds > 1 else "")
    _, result = cached_step(ctx, "benchmark", step, material, produce)
    return result


def worker_job(ctx: RunContext, artifact: Artifact, variant: str, config: BenchmarkConfig, evaluation, settings: dict,
               tmp: Path, scored: bool = True) -> dict:
    job = {
        "backend": artifact.backend,
        "artifact": str(artifact.path),
        "variant": variant,
        "settings": settings,
        "batch_sizes": config.batch_sizes,
        "threads": config.threads,
        "warmup": config.warmup,
        "iterations": config.iterations,
        "time_budget_s": config.time_budget_s,
        "eval_batch_size": config.eval_batch_size,
        "sample_shape": ctx.recipe.input.shape[1:],
        "dtype": ctx.recipe.input.dtype,
    }
    if evaluation is not None:
        job["eval_inputs"] = str(write_eval_inputs(evaluation.inputs, tmp))  # also the timed batch
        if scored:
            job["logits_out"] = str(tmp / "logits.npy")
    return job


def build_rows(measured: list[tuple[Artifact, str, dict]], evaluation) -> list[dict]:
    references = {
        (a.model, a.target): np.asarray(r["logits"])
        for a, variant, r in measured
        if a.precision == "fp32" and "logits" in r and _is_reference_variant(variant)
    }
    rows = []
    for artifact, variant, result in measured:
        scores = _scores(artifact, result, evaluation, references.get((artifact.model, artifact.target)))
        for config in result["configs"]:
            if "skipped" in config:
                continue
            rows.append(_row(artifact, variant, result, config, scores))
    return rows


def _is_reference_variant(variant: str) -> bool:
    # "ort-simulated": the TensorRT target's FP32 ONNX run in ONNX Runtime, the exact FP32 model.
    return variant in ("default", "f32", "ort-simulated")


def _scores(artifact: Artifact, result: dict, evaluation, reference) -> dict:
    if "logits" not in result or evaluation is None:
        return {"accuracy": None, "top1_agreement": None, "max_abs_diff": None}
    logits = np.asarray(result["logits"])
    scores = {"accuracy": top1_accuracy(logits, evaluation.labels) if evaluation.labelled else None}
    if reference is not None:
        scores.update(agreement(logits, reference))
    else:
        scores.update({"top1_agreement": None, "max_abs_diff": None})
    return scores


def _row(artifact: Artifact, variant: str, result: dict, config: dict, scores: dict) -> dict:
    return {
        "artifact_id": artifact.id,
        "artifact": str(artifact.path),
        "model": artifact.model,
        "backend": artifact.backend,
        "precision": artifact.precision,
        "runtime_variant": variant,
        "target": artifact.target,
        "batch_size": config["batch_size"],
        "threads": config["threads"],
        "latency_ms": config["latency_ms"],
        "samples_ms": config["samples_ms"],
        # One median per fresh worker process; the percentiles above pool their samples.
        "round_p50_ms": [r["p50"] for r in config.get("rounds", [config["latency_ms"]])],
        "throughput_per_s": config["throughput_per_s"],
        **scores,
        "size_bytes": artifact.size_bytes,
        "params": artifact.meta.get("params"),
        "macs": artifact.meta.get("macs"),
        "peak_memory_bytes": result["peak_rss_bytes"] - result["rss_start_bytes"],
        "peak_rss_bytes": result["peak_rss_bytes"],
        "cold_start": result["cold_start"].get(str(config["threads"])),
        "runtime_versions": result["versions"],
        # What the runtime compiled, read back (e.g. OpenVINO's inference precision), not what was asked.
        "runtime_info": config.get("runtime_info", {}),
    }
