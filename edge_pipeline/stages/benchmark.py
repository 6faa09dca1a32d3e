"""Benchmark stage: time every target artifact in its own process and score it on the eval split."""

from __future__ import annotations

import dataclasses
import functools
import tempfile
from pathlib import Path

import numpy as np

from edge_pipeline.artifacts.hashing import sha256_json
from edge_pipeline.artifacts.record import Artifact
from edge_pipeline.backends.registry import backend_for_steps, descriptor
from edge_pipeline.benchmarking.accuracy import top1_accuracy
from edge_pipeline.benchmarking.fidelity import fidelity_by_output, is_classifier_like
from edge_pipeline.benchmarking.harness import run_worker, write_eval_inputs
from edge_pipeline.benchmarking.host import (
    host_arch,
    measurement_scope,
    measurement_stamp,
    timing_identity,
    usable_cpus,
)
from edge_pipeline.benchmarking.rounds import pool_rounds
from edge_pipeline.benchmarking.rows import BenchmarkRow, clock_fields
from edge_pipeline.calibration.dataset import ArrayDataset
from edge_pipeline.calibration.task_metric import metric_function, task_figures
from edge_pipeline.config.schema import BenchmarkConfig, MetricSpec, effective_stage_config
from edge_pipeline.errors import StageError
from edge_pipeline.progress import progress
from edge_pipeline.reports.measurement import measurement_warnings, with_measurement_checks
from edge_pipeline.reports.recommend import RecommendPolicy, policy_for, recommended_section
from edge_pipeline.stages.base import StageOutput, StageRun, TargetFailure
from edge_pipeline.stages.data import class_labels, recipe_layout
from edge_pipeline.stages.feature_notes import feature_notes

TimedRow = tuple[Artifact, str, BenchmarkConfig, dict]  # artifact, runtime variant, settings, target options
SIMULATION_WARMUP, SIMULATION_ITERATIONS = 3, 20


def run(view: StageRun) -> StageOutput:
    evaluation = view.data.eval()
    runnable = _runnable_artifacts(view)
    plan = timing_plan(view, [(a, config) for a, config, left in runnable if not left])
    measured_by = shared_measurements(plan)
    pooled, failures = timed_rounds(view, plan, sorted(set(measured_by)), evaluation)
    failed = failed_targets(plan, measured_by, pooled, failures)
    measured = [(artifact, variant, pooled[measured_by[index]])
                for index, (artifact, variant, _, _) in enumerate(plan) if str(artifact.target) not in failed]
    rows = [_with_scope(row, view)
            for row in build_rows(measured, evaluation, view.recipe.class_score_outputs, view.recipe.metric)]
    rows = with_measurement_checks(rows, usable_cpus())
    _warn(rows)
    notes = (_host_notes(rows) + feature_notes(rows, view.targets) + _shared_notes(plan, measured_by)
             + _device_notes([a for a, _, left in runnable if left]))
    return StageOutput(rows=rows, notes=notes, failures=list(failed.values()) + unmet_recommendations(view, rows))


def recommend_policies(view: StageRun) -> dict[str, RecommendPolicy]:
    """Each target's recommendation policy: its effective benchmark.recommend, threads and quantize floor."""
    return {name: policy_for(effective_stage_config(view.recipe.benchmark, target.benchmark),
                             effective_stage_config(view.recipe.quantize, target.quantize))
            for name, target in view.targets.items()}


def unmet_recommendations(view: StageRun, rows: list[BenchmarkRow]) -> list[TargetFailure]:
    """A target whose recipe asks for an INT8 recommendation that no INT8 candidate earns fails, in one
    line naming the best INT8 fidelity reached: shipping it anyway would break the recipe's word."""
    section = recommended_section(rows, recommend_policies(view), [a.model_dump(mode="json") for a in view.artifacts])
    failures = []
    for target, entry in section.items():
        if entry["status"] == "none":
            result = view.for_target(target, functools.partial(_refuse, target, entry["reason"]))
            if isinstance(result, TargetFailure):
                failures.append(result)
    return failures


def _refuse(target: str, reason: str) -> None:
    raise StageError(f"target {target}: {reason}")


def timed_rounds(view: StageRun, plan: list[TimedRow], timed: list[int],
                 evaluation: ArrayDataset | None) -> tuple[dict[int, dict], dict[int, TargetFailure]]:
    """The ``timed`` plan entries' results, each pooled over its rounds, by plan index; and the
    entries whose measurement failed. A failure stops the timing of its target's other entries."""
    rounds: dict[int, list[dict]] = {index: [] for index in timed}
    failures: dict[int, TargetFailure] = {}
    groups = comparison_groups(plan, timed)
    # Round after round over every artifact (not all rounds of one, then the next): the rows a
    # speedup compares are then timed across the same stretch of the machine's load.
    for round_index in range(max((plan[index][2].rounds for index in timed), default=0)):
        for index in timed:
            artifact, variant, config, settings = plan[index]
            stopped = {str(plan[failed][0].target) for failed in failures}
            if round_index >= config.rounds or str(artifact.target) in stopped:
                continue
            result = view.for_target(str(artifact.target), functools.partial(
                measure, view, artifact, variant, config, evaluation, settings, round_index, groups[index]))
            if isinstance(result, TargetFailure):
                failures[index] = result
            else:
                rounds[index].append(result)
    stopped = {str(plan[failed][0].target) for failed in failures}
    pooled = {index: {**pool_rounds(results), "measured": pooled_stamps(results)}
              for index, results in rounds.items() if str(plan[index][0].target) not in stopped}
    return pooled, failures


def failed_targets(plan: list[TimedRow], measured_by: list[int], pooled: dict[int, dict],
                   failures: dict[int, TargetFailure]) -> dict[str, TargetFailure]:
    """The targets with a failed measurement, and those whose rows re-use one that failed."""
    failed = {failure.target: failure for failure in failures.values()}
    for index, source in enumerate(measured_by):
        target, origin = str(plan[index][0].target), str(plan[source][0].target)
        if source not in pooled and target not in failed and origin in failed:
            failed[target] = dataclasses.replace(failed[origin], target=target)
    return failed


def comparison_groups(plan: list[TimedRow], timed: list[int]) -> dict[int, str]:
    """For each timed plan entry, the identity of every timed row of its target: the rows its speedups
    compare against. It is part of each timing's cache key, so a timing is re-used only together
    with the timings it is compared with: change one artifact of a target and its FP32 reference is
    timed again beside it, never compared with a figure from another hour of a shared machine."""
    members: dict[str, list[list[str]]] = {}
    for index in timed:
        artifact, variant, _, _ = plan[index]
        members.setdefault(str(artifact.target), []).append([artifact.sha256 or artifact.id, variant])
    digests = {target: sha256_json(sorted(rows)) for target, rows in members.items()}
    return {index: digests[str(plan[index][0].target)] for index in timed}


def shared_measurements(plan: list[TimedRow]) -> list[int]:
    """For each plan entry, the index of the entry whose measurement it takes: its own, or the first
    one that runs the same file the same way where the variant's runner reads nothing of the target
    (the same bytes, stand-in runtime, timing settings and host time and score the same)."""
    first: dict[str, int] = {}
    measured_by = []
    for index, (artifact, variant, config, _) in enumerate(plan):
        if variant not in descriptor(str(artifact.backend)).target_free_variants or not artifact.sha256:
            measured_by.append(index)
            continue
        identity = sha256_json({"file": artifact.sha256, "kind": artifact.kind, "backend": artifact.backend,
                                "variant": variant, "config": config.model_dump(mode="json", exclude={"remote"})})
        measured_by.append(first.setdefault(identity, index))
    return measured_by


def _shared_notes(plan: list[TimedRow], measured_by: list[int]) -> list[str]:
    pairs: dict[tuple[str, str, str], set[str]] = {}
    for index, source in enumerate(measured_by):
        if source != index:
            (artifact, variant, _, _), (origin, _, _, _) = plan[index], plan[source]
            pairs.setdefault((str(artifact.target), str(origin.target), variant), set()).add(artifact.model)
    return [f"{target}: its {variant} rows ({', '.join(sorted(models))}) re-use {origin}'s measurements: the same "
            f"files, run the same way in the same runtime on this host, whichever target asked for them."
            for (target, origin, variant), models in sorted(pairs.items())]


def pooled_stamps(results: list[dict]) -> dict:
    """When, where and under what load a row's rounds ran: the first round's start, the last's end.

    A round re-used from the cache keeps the stamp of the run that timed it; results cached before
    stamps existed have none (the row's fields stay None).
    """
    stamps = [result["measured"] for result in results if "measured" in result]
    if not stamps:
        return {}
    hosts = sorted({stamp["end"]["host"] for stamp in stamps})
    return {"start": stamps[0]["start"], "end": {**stamps[-1]["end"], "host": " + ".join(hosts)}}


def _warn(rows: list[BenchmarkRow]) -> None:
    # Said while the run is going (stderr), so a loaded machine is noticed before the bundle is read.
    for warning in measurement_warnings(rows, usable_cpus()):
        progress("benchmark", f"warning: {warning}")


def timing_plan(view: StageRun, timed: list[tuple[Artifact, BenchmarkConfig]]) -> list[TimedRow]:
    """(artifact, runtime variant, benchmark config, target options) for every row of the ``timed`` artifacts."""
    plan = []
    for artifact, config in timed:
        target = view.targets[str(artifact.target)]
        backend = backend_for_steps(str(artifact.backend))  # the worker imports the runtime
        row = descriptor(str(artifact.backend))
        # A target-free variant's runner reads none of the options: it gets none, so the job (and
        # shared_measurements' identity) is the same whichever target asked.
        plan += [(artifact, variant, simulation_timing(config) if variant in row.simulated_variants else config,
                  {} if variant in row.target_free_variants else target.options)
                 for variant in backend.variants_for(artifact, target)]
    return plan


def _runnable_artifacts(view: StageRun) -> list[tuple[Artifact, BenchmarkConfig, bool]]:
    """Every artifact a runtime runs, with its target's benchmark settings (the recipe's keys win) and
    whether it is left to the device: a file laid out for the device's kernels, on a host without
    the device's instruction set."""
    found = []
    for artifact in view.artifacts:
        if artifact.target is None or artifact.backend is None:
            continue
        artifact_format = descriptor(artifact.backend).format_of(artifact.kind)
        if artifact_format is None or not artifact_format.timed:
            continue  # files beside the models (e.g. ORT's required_operators.config), nothing to time
        target = view.targets[artifact.target]
        config = effective_stage_config(view.recipe.benchmark, target.benchmark)
        left = (artifact_format.device_kernels and config.device_formats_on_host == "skip"
                and measurement_scope(target.device.arch) == "host")
        found.append((artifact, config, left))
    return found


def simulation_timing(config: BenchmarkConfig) -> BenchmarkConfig:
    """A stand-in runtime's time is no device figure and never headlines: a short loop shows the
    artifact runs and gives its p50; the eval pass (fidelity, accuracy) is unchanged."""
    return config.model_copy(update={"warmup": min(config.warmup, SIMULATION_WARMUP),
                                     "iterations": min(config.iterations, SIMULATION_ITERATIONS), "rounds": 1})


def _device_notes(left: list[Artifact]) -> list[str]:
    notes = []
    for target in sorted({str(a.target) for a in left}):
        names = ", ".join(sorted({a.path.name for a in left if a.target == target}))
        models = ", ".join(sorted({a.model for a in left if a.target == target}))
        notes.append(f"{target}: {names} of {models} were not timed on this {host_arch()} host: they are laid out "
                     "for the device's kernels (the quantize stage's fidelity check ran them here). Time them on "
                     "the device with `edge-pipeline benchmark FILE...`, or set benchmark.device_formats_on_host: "
                     "time for host rows.")
    return notes


def _with_scope(row: BenchmarkRow, view: StageRun) -> BenchmarkRow:
    """Rows of targets whose instruction set this host lacks time the artifact here, not on the device."""
    return row.model_copy(update={"measured_on": measurement_scope(view.targets[row.target].device.arch)})


def _host_notes(rows: list[BenchmarkRow]) -> list[str]:
    foreign = sorted({r.target for r in rows if r.measured_on == "host"})
    if not foreign:
        return []
    return [f"Rows for {', '.join(foreign)} were timed on this {host_arch()} host: host measurements of those "
            "artifacts, not device numbers; run `edge-pipeline benchmark` on the device for those."]


def measure(view: StageRun, artifact: Artifact, variant: str, config: BenchmarkConfig, evaluation: ArrayDataset | None,
            settings: dict, round_index: int = 0, timed_with: str = "") -> dict:
    """One round: a worker process times the artifact; the first round also runs the eval inputs."""
    scored = round_index == 0 and evaluation is not None

    def produce(directory: Path):
        # Stamped around the worker and cached with its result: a row re-used from the cache later
        # still says when, where and under what load it was really timed.
        start = measurement_stamp()
        with tempfile.TemporaryDirectory(prefix="ep-bench-") as tmp:
            job = worker_job(view, artifact, variant, config, evaluation, settings, Path(tmp), scored)
            result = run_worker(job, Path(tmp))
            if scored:
                with np.load(job["outputs_out"]) as outputs:
                    result["outputs"] = {name: outputs[name].tolist() for name in outputs.files}
        return [], {**result, "measured": {"start": start, "end": measurement_stamp()}}

    step = f"{artifact.id} [{variant}]" + (f" round {round_index + 1}/{config.rounds}" if config.rounds > 1 else "")
    # The devices of benchmark.remote time nothing here: they are no part of this timing's identity.
    key_config = config.model_dump(mode="json", exclude={"remote"})
    _, result = view.step(step, produce, inputs=(artifact,), config=key_config, data=(evaluation,),
                          backend=artifact.backend,
                          extra={"round": round_index, "variant": variant, "host": timing_identity(),
                                 "settings": settings, "timed_with": timed_with})
    return result


def worker_job(view: StageRun, artifact: Artifact, variant: str, config: BenchmarkConfig,
               evaluation: ArrayDataset | None, settings: dict, tmp: Path, scored: bool = True) -> dict:
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
        "inputs": [{"name": spec.name, "sample_shape": list(spec.sample_shape), "dtype": spec.dtype,
                    "value_range": list(spec.value_range) if spec.value_range else None,
                    "batch_axis": spec.batch_axis}
                   for spec in view.recipe.input_specs],
        "layout": recipe_layout(view.recipe).to_json(),
    }
    if evaluation is not None:
        job["eval_inputs"] = str(write_eval_inputs(dict(evaluation.arrays), tmp))  # also the timed batch
        if evaluation.sequence_start is not None:
            job["sequence_starts"] = np.flatnonzero(evaluation.sequence_start).tolist()
        if scored:
            job["outputs_out"] = str(tmp / "outputs.npz")
    return job


def build_rows(measured: list[tuple[Artifact, str, dict]], evaluation: ArrayDataset | None,
               class_scores: list[str] | None = None, metric: MetricSpec | None = None) -> list[BenchmarkRow]:
    """``class_scores``: the outputs holding class scores (None: every 2-D float output);
    ``metric``: the recipe's task metric, computed on every artifact's eval outputs."""
    function = metric_function(metric) if metric is not None else None
    references = {
        (a.model, a.target): _outputs(r)
        for a, variant, r in measured
        if a.precision == "fp32" and "outputs" in r and _is_reference(a, variant)
    }
    rows = []
    for artifact, variant, result in measured:
        scores = _scores(result, evaluation, references.get((artifact.model, artifact.target)), class_scores)
        if metric is not None and evaluation is not None and "outputs" in result:
            scores["metrics"] = task_figures(metric, _outputs(result), evaluation.labels, function)
        rows += [_row(artifact, variant, result, config, scores)
                 for config in result["configs"] if "skipped" not in config]
    return rows


def _is_reference(artifact: Artifact, variant: str) -> bool:
    return variant in descriptor(_timed_backend(artifact)).reference_variants


def _timed_backend(artifact: Artifact) -> str:
    if artifact.backend is None:  # timing_plan times only artifacts that name their backend
        raise StageError(f"artifact {artifact.id} names no backend to time it with")
    return artifact.backend


def _outputs(result: dict) -> dict[str, np.ndarray]:
    return {name: np.asarray(values) for name, values in result["outputs"].items()}


def _scores(result: dict, evaluation: ArrayDataset | None, reference: dict[str, np.ndarray] | None,
            class_scores: list[str] | None) -> dict:
    """Accuracy on labels (the first output, when it holds class scores) and fidelity per output."""
    scores: dict = {"accuracy": None, "top1_agreement": None, "max_abs_diff": None, "fidelity": {}}
    if "outputs" not in result or evaluation is None:
        return scores
    outputs = _outputs(result)
    first_name, first = next(iter(outputs.items()))
    first_scores = is_classifier_like(first) if class_scores is None else first_name in class_scores
    if evaluation.labels is not None and first_scores and class_labels(evaluation):
        scores["accuracy"] = top1_accuracy(first, evaluation.labels)
    if reference is not None:
        scores["fidelity"] = fidelity_by_output(outputs, reference, class_scores)
        headline = next(iter(scores["fidelity"].values()))
        scores.update({"top1_agreement": headline.top1_agreement, "max_abs_diff": headline.max_abs_diff})
    return scores


def _row(artifact: Artifact, variant: str, result: dict, config: dict, scores: dict) -> BenchmarkRow:
    row = descriptor(_timed_backend(artifact))
    return BenchmarkRow(
        artifact_id=artifact.id,
        artifact=str(artifact.path),
        model=artifact.model,
        backend=artifact.backend,
        precision=artifact.precision,
        runtime_variant=variant,
        target=artifact.target,
        batch_size=config["batch_size"],
        threads=config["threads"],
        latency_ms=config["latency_ms"],
        samples_ms=config["samples_ms"],
        # One median per fresh worker process; the percentiles above pool their samples.
        round_p50_ms=[r["p50"] for r in config.get("rounds", [config["latency_ms"]])],
        **clock_fields(config),
        throughput_per_s=config["throughput_per_s"],
        **scores,
        size_bytes=artifact.size_bytes,
        params=artifact.meta.get("params"),
        macs=artifact.meta.get("macs"),
        peak_memory_bytes=result["peak_rss_bytes"] - result["rss_start_bytes"],
        peak_rss_bytes=result["peak_rss_bytes"],
        cold_start=result["cold_start"].get(str(config["threads"])),
        runtime_versions=result["versions"],
        # What the runtime compiled, read back (e.g. OpenVINO's inference precision), not what was asked.
        runtime_info=config.get("runtime_info", {}),
        reference_variant=variant in row.reference_variants,
        simulated=variant in row.simulated_variants,
        **_stamp_fields(result.get("measured") or {}),
    )


def _stamp_fields(measured: dict) -> dict:
    if not measured:
        return {}
    return {"measured_at": measured["end"]["utc"], "measured_host": measured["end"]["host"],
            "load_avg_start": measured["start"]["load_avg"], "load_avg_end": measured["end"]["load_avg"]}
