"""Timing for latency-aware placement (placement.py): each compute layer of an FP32 and an INT8
artifact timed by the runtime's own profiler and named after the source ONNX's nodes, and two
artifacts raced whole in interleaved rounds."""

from __future__ import annotations

import statistics
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from edge_pipeline.backends.base import Backend, ExecutedLayer, RunnerOptions
from edge_pipeline.benchmarking.timing import sample, time_call, time_calls, warm_up
from edge_pipeline.calibration.dataset import ArrayDataset
from edge_pipeline.config.schema import QuantizeConfig, TargetProfile
from edge_pipeline.fidelity.attribution import layer_costs
from edge_pipeline.fidelity.check import check_options, source_names

RACE_ROUNDS = 3  # interleaved rounds of the whole-artifact race (full INT8, mixed, full INT8, ...)
RACE_SECONDS = 0.5  # timed per artifact and round; bounded by RACE_RUNS
RACE_RUNS = (10, 200)
PROFILE_WARMUP = 20
# The profiles are taken in interleaved rounds (FP32, INT8, FP32, ...) and each layer keeps its fastest
# round: a load that comes and goes on a shared host then touches one round, not one artifact's whole
# profile. In one block per artifact, OpenVINO's per-conv figures for a 12 px PReLU net moved 30-50%
# between repeats on a loaded host.
PROFILE_ROUNDS = 3
PROFILE_RUNS = (10, 100)  # fewest and most profiled runs per artifact and round
PROFILE_SECONDS = 0.5  # profiled time per artifact and round a large model's run count is cut to
WHOLE_RUNS = 50  # timed runs per artifact where the runtime has no per-layer profiler


@dataclass(frozen=True)
class LayerTiming:
    """One compute layer of the source ONNX: its time per inference in each artifact (ms), with the
    runtime work around it, and the precision the INT8 artifact runs it in."""

    node: str
    op_type: str
    fp32_ms: float | None
    int8_ms: float | None
    precision: str = "int8"

    @property
    def gain_ms(self) -> float:
        """What keeping it float saves per inference."""
        return (self.int8_ms or 0.0) - (self.fp32_ms or 0.0)

    def record(self, reason: str | None = None) -> dict:
        figures = {"int8_ms": rounded_ms(self.int8_ms), "fp32_ms": rounded_ms(self.fp32_ms)}
        if reason is None:
            return {"node": self.node, "op_type": self.op_type, "int8_precision": self.precision, **figures}
        return {"node": self.node, "op_type": self.op_type, "reason": reason, **figures}


@dataclass(frozen=True)
class Timings:
    layers: list[LayerTiming] | None  # None: the runtime has no per-layer profiler
    how: str  # how they were measured, for the meta
    whole_ms: tuple[float, float] | None = None  # (FP32, INT8) per inference, without a per-layer profiler


@dataclass(frozen=True)
class PlacementJob:
    backend: Backend
    target: TargetProfile
    config: QuantizeConfig
    source_onnx: Path
    data: ArrayDataset  # its first sample is what the profiled runs infer
    threads: int


def measure(job: PlacementJob, fp32_path: Path, int8_path: Path) -> Timings:
    """Both artifacts timed per compute layer by the runtime's profiler in PROFILE_ROUNDS interleaved
    rounds, named after the source ONNX's nodes, each layer at its fastest round; whole-artifact
    timings where the runtime cannot time its layers."""
    name_of = source_names(job.source_onnx)
    fp32_rounds: list[dict[str, tuple[str, float, str]]] = []
    int8_rounds: list[dict[str, tuple[str, float, str]]] = []
    runs = PROFILE_RUNS[1]
    with tempfile.TemporaryDirectory(prefix="ep-placement-") as tmp:
        for index in range(PROFILE_ROUNDS):
            fp32 = _profiled(job, fp32_path, Path(tmp) / f"fp32-{index}")
            int8 = _profiled(job, int8_path, Path(tmp) / f"int8-{index}")
            if fp32 is None or int8 is None:
                return _whole(job, fp32_path, int8_path)
            fp32_rounds.append(_by_source(fp32[0], name_of))
            int8_rounds.append(_by_source(int8[0], name_of))
            runs = min(runs, fp32[1], int8[1])
    fp32_costs, int8_costs = fastest_round(fp32_rounds), fastest_round(int8_rounds)
    layers = [LayerTiming(node, op_type, fp32_costs[node][1] if node in fp32_costs else None, ms, precision)
              for node, (op_type, ms, precision) in int8_costs.items()]
    return Timings(layers, f"per layer: {job.target.backend}'s own profiler, {PROFILE_ROUNDS} interleaved rounds "
                           f"of {runs} runs after {PROFILE_WARMUP} warm-up at batch 1, {job.threads} threads, each "
                           "layer at its fastest round; Q/DQ and reorders counted to their layer")


def fastest_round(rounds: list[dict[str, tuple[str, float, str]]]) -> dict[str, tuple[str, float, str]]:
    """source node -> (op type, ms, precision) at the round that ran it fastest, in the first round's
    order; a layer a later round did not time keeps the rounds that did."""
    found: dict[str, tuple[str, float, str]] = {}
    for costs in rounds:
        for node, (op_type, ms, precision) in costs.items():
            if node not in found or ms < found[node][1]:
                found[node] = (op_type, ms, precision)
    return found


def _whole(job: PlacementJob, fp32_path: Path, int8_path: Path) -> Timings:
    whole = (_whole_ms(job, fp32_path), _whole_ms(job, int8_path))
    return Timings(None, f"whole artifact: {job.target.backend} gives no per-layer profile here; median of "
                         f"{WHOLE_RUNS} runs at batch 1, {job.threads} threads", whole)


def race_whole(job: PlacementJob, int8_path: Path, mixed_path: Path) -> tuple[float, float]:
    """(full INT8, mixed) ms per inference at batch 1: the best median of RACE_ROUNDS interleaved rounds,
    so that a load that comes and goes touches both alike."""
    options = _timing_options(job)
    with job.backend.runner(int8_path, options) as int8, job.backend.runner(mixed_path, options) as mixed:
        calls = [int8.prepare(_feed(int8, job.data)), mixed.prepare(_feed(mixed, job.data))]
        for call in calls:
            warm_up(call, PROFILE_WARMUP)
        runs = _runs_for(calls[0], RACE_SECONDS, RACE_RUNS)
        best = [float("inf"), float("inf")]
        for _ in range(RACE_ROUNDS):
            for index, call in enumerate(calls):
                best[index] = min(best[index], statistics.median(sample(call, runs, None)))
    return best[0], best[1]


def _runs_for(call: Callable[[], object], seconds: float, bounds: tuple[int, int]) -> int:
    """How many calls fill about ``seconds``, from one timed call, within ``bounds``."""
    once_s = max(time_call(call) / 1e3, 1e-6)
    return int(min(max(seconds / once_s, bounds[0]), bounds[1]))


def _timing_options(job: PlacementJob, profile_prefix: str | None = None) -> RunnerOptions:
    return replace(check_options(job.target, job.data.layout), threads=job.threads, profile_prefix=profile_prefix)


def _profiled(job: PlacementJob, path: Path, prefix: Path):
    """(compute layer costs, runs) of one artifact from a runner with its profiler on; None where the
    runtime has no per-layer profiler or cannot show the graph it executes."""
    with job.backend.runner(Path(path), _timing_options(job, str(prefix))) as runner:
        feed = _feed(runner, job.data)
        runs = _runs_for(runner.prepare(feed), PROFILE_SECONDS, PROFILE_RUNS)
        profile = runner.profile_layers(feed, PROFILE_WARMUP, runs)
        graph = runner.executed_graph() if profile is not None else None
    if profile is None or graph is None:
        return None
    return layer_costs(profile, graph), profile.runs


def _by_source(costs, name_of) -> dict[str, tuple[str, float, str]]:
    """source node -> (op type, ms per inference, precision); runtime nodes of one source node summed."""
    found: dict[str, tuple[str, float, str]] = {}
    for cost in costs:
        node = name_of(ExecutedLayer(cost.name, cost.op_type, cost.precision, cost.aliases))
        op_type, ms, precision = found.get(node, (cost.op_type, 0.0, cost.precision))
        found[node] = (op_type, ms + cost.total_ms, precision)
    return found


def _whole_ms(job: PlacementJob, path: Path) -> float:
    with job.backend.runner(Path(path), _timing_options(job)) as runner:
        call = runner.prepare(_feed(runner, job.data))
        return statistics.median(time_calls(call, PROFILE_WARMUP, WHOLE_RUNS, None))


def _feed(runner, data: ArrayDataset) -> dict[str, np.ndarray]:
    """The first sample at batch 1, in the dtypes the model declares."""
    names = [i.name for i in runner.inputs]
    feed = next(data.take(1).feeds(1, names))
    dtypes = {i.name: i.dtype for i in runner.inputs}
    return {name: _as(value, dtypes.get(name)) for name, value in feed.items()}


def _as(value: np.ndarray, dtype: str | None) -> np.ndarray:
    try:
        # np.asarray, not ascontiguousarray: that turns a 0-d input (a scalar fed whole) into shape (1,)
        return np.asarray(value, dtype=np.dtype(dtype) if dtype else None, order="C")
    except TypeError:  # a runtime type numpy does not name: the data's own
        return np.asarray(value, order="C")


def rounded_ms(value: float | None) -> float | None:
    return None if value is None else round(value, 4)
