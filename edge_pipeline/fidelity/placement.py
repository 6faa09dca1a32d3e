"""Latency-aware placement: the compute layers whose INT8 form is slower than their FP32 form, as this
CPU runs them, are kept float in a second, mixed INT8 artifact, held to the same fidelity floor.

1. Once the INT8 artifact meets the floor, the FP32 and the INT8 artifact are each run up to a hundred
   times per round, in three interleaved rounds, on one calibration sample at batch 1 under the
   runtime's own per-layer profiler (ONNX Runtime's session profiler, OpenVINO's performance
   counters); each compute layer's time is read with its share of the Q/DQ and reorder work around it
   (attribution.py), at the round that ran it fastest.
2. A layer whose INT8 time exceeds its FP32 time by more than SPEED_MARGIN is kept float for speed,
   where those layers together cost at least MIN_PREDICTED_GAIN of the INT8 artifact's time.
3. Fidelity and speed are one search: the layers the fidelity fallback kept stay float, the
   speed-kept ones are added to them, and the whole artifact is checked against the floor again, then
   timed as a whole against the full INT8 artifact in interleaved rounds. The per-layer profile cannot
   see what a float island costs at its edges: ONNX Runtime, for one, moves the Q of a float conv's
   output above the MaxPool that follows and runs that pool on uint8 in NCHW, several times slower
   than the NHWC pool of the full INT8 graph. On a floor miss, or where the mixed artifact is not
   faster as a whole, the search goes on (keep_for_speed): first the least-gaining layer is dropped on
   each floor miss; where the set that holds is slower whole, the layers are added one at a time, each
   kept only where the artifact stays within the floor and races faster. None kept: no mixed artifact.
   The fidelity trim never sees a speed-kept layer.

The mixed artifact is variant ``mixed`` of the step, timed by the benchmark stage beside the full
INT8 one, so the recommendation can pick whichever is faster and keeps fidelity. Its meta's
``placement`` lists each layer kept float, why and the figures; the full INT8 artifact's
``layer_times`` has both figures for every compute layer. A runtime without a per-layer profiler
gets whole-artifact timings and a note saying so.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from edge_pipeline.backends.base import ProducedArtifact
from edge_pipeline.benchmarking.host import measurement_scope
from edge_pipeline.config.schema import QuantizeConfig, TargetProfile
from edge_pipeline.errors import FidelityFloorError, StageError
from edge_pipeline.fidelity.placement_timing import LayerTiming, PlacementJob, Timings, measure, race_whole
from edge_pipeline.fidelity.placement_timing import rounded_ms as _ms
from edge_pipeline.progress import progress

__all__ = ["LayerTiming", "PlacementJob", "Timings", "keep_for_speed", "measure", "place", "placement_on",
           "race_whole", "speed_kept"]

# A layer is kept float for speed only when its INT8 form (with its Q/DQ and reorders) is this much
# slower than its FP32 form: below it, run-to-run noise of a profiled layer on a shared host decides.
SPEED_MARGIN = 0.10
# A mixed artifact is made only when its slower INT8 layers together cost at least this share of the
# INT8 artifact's profiled time: a smaller saving is within a shared host's run-to-run spread, and
# each mixed artifact costs a re-quantization, a fidelity check and its own benchmark rows.
MIN_PREDICTED_GAIN = 0.05
# A mixed artifact is kept only when, timed whole in interleaved rounds, it beats the full INT8 one by
# this share: a smaller lead is within the race's own spread on a shared host (in one default run the
# pruned student's mixed artifact won its race, then ran 3% behind the full INT8 in the benchmark), and
# a kept one costs benchmark rows.
MIXED_MUST_BEAT = MIN_PREDICTED_GAIN
MAX_LAYER_ROWS = 400  # per artifact: enough for real models' compute layers, bounded for the manifest


PLACEMENT_SWITCH = "EDGE_PIPELINE_PLACEMENT"


def placement_on(config: QuantizeConfig, target: TargetProfile) -> bool:
    """quantize.placement resolved: auto is speed on a CPU target whose device is the machine timing
    it (an x86 CPU target here), off elsewhere (TensorRT, Android: their device is not this host) and
    where EDGE_PIPELINE_PLACEMENT=off (the test suite: an artifact that exists only when this CPU
    found INT8 slower must not decide what a test sees; an explicit 'speed' still runs)."""
    if config.placement != "auto":
        return config.placement == "speed"
    if os.environ.get(PLACEMENT_SWITCH) == "off":
        return False
    device = target.device
    return device.kind == "cpu" and device.arch == "x86_64" and measurement_scope(device.arch) == "device"


def speed_kept(layers: list[LayerTiming], margin: float | None = None) -> list[LayerTiming]:
    """INT8 layers slower than their FP32 form by more than ``margin`` (SPEED_MARGIN), most time gained first."""
    margin = SPEED_MARGIN if margin is None else margin
    slower = [layer for layer in layers if layer.precision == "int8" and layer.fp32_ms is not None
              and layer.int8_ms is not None and layer.int8_ms > layer.fp32_ms * (1 + margin)]
    return sorted(slower, key=lambda layer: layer.gain_ms, reverse=True)


Race = Callable[[list[ProducedArtifact]], "tuple[float, float] | None"]


def keep_for_speed(attempt: Callable[[list[str]], list[ProducedArtifact]], candidates: list[LayerTiming],
                   out_of_time: Callable[[], bool], race: Race = lambda produced: None,
                   ) -> tuple[list[LayerTiming], list[ProducedArtifact], list[dict]]:
    """The mixed artifact keeping float the most gaining set of ``candidates`` that holds the floor
    (``attempt`` raises on a miss) and runs faster than the full INT8 as a whole (``race``: the full
    INT8's and the mixed artifact's ms, or None where they could not be timed).

    First the whole set, the candidate gaining least dropped on each floor miss. If the set that holds
    is slower whole, some layer's float edges cost more than it saves, and which one the per-layer
    profile cannot tell: the candidates are then added one at a time, most gain first, each kept only
    where the artifact holds the floor and races faster than with the ones kept before it. Returns
    the layers kept, their artifacts (empty: none) and every try that was not kept."""
    kept = sorted(candidates, key=lambda layer: layer.gain_ms, reverse=True)
    misses: list[dict] = []
    while kept and not out_of_time():
        names = [layer.node for layer in kept]
        try:
            produced = attempt(names)
        except FidelityFloorError as miss:
            misses.append({"speed_kept": names, "reached": round(miss.reached, 5), "dropped": kept[-1].node})
            kept = kept[:-1]
            continue
        timed = race(produced)
        if _faster(timed):  # None (could not be timed) counts as faster: the benchmark times it
            return kept, produced, misses
        misses.append({"speed_kept": names, "whole_ms": _figures(timed), "then": "adding layers one at a time"})
        return _one_at_a_time(attempt, kept, out_of_time, race, misses, tried=names)
    return [], [], misses


def _one_at_a_time(attempt, candidates: list[LayerTiming], out_of_time: Callable[[], bool], race: Race,
                   misses: list[dict], tried: list[str],
                   ) -> tuple[list[LayerTiming], list[ProducedArtifact], list[dict]]:
    chosen: list[LayerTiming] = []
    best: tuple[list[ProducedArtifact], float] | None = None  # the chosen set's artifacts and mixed/INT8 ratio
    built: list[str] = tried  # the set whose files the folder holds
    for candidate in candidates:
        trial = [*chosen, candidate]
        names = [layer.node for layer in trial]
        if names == tried or out_of_time():
            continue
        built = names
        try:
            produced = attempt(names)
        except FidelityFloorError as miss:
            misses.append({"speed_kept": names, "reached": round(miss.reached, 5), "left_out": candidate.node})
            continue
        timed = race(produced)
        ratio = 0.0 if timed is None else timed[1] / timed[0]
        if _faster(timed) and (best is None or ratio < best[1]):
            chosen, best = trial, (produced, ratio)
            continue
        misses.append({"speed_kept": names, "whole_ms": _figures(timed), "left_out": candidate.node})
    if best is None:
        return [], [], misses
    if [layer.node for layer in chosen] != built:  # a later try overwrote the chosen set's files
        try:
            best = (attempt([layer.node for layer in chosen]), best[1])
        except FidelityFloorError as miss:  # held before: only a nondeterministic quantizer gets here
            misses.append({"speed_kept": [layer.node for layer in chosen], "reached": round(miss.reached, 5)})
            return [], [], misses
    return chosen, best[0], misses


def _faster(timed: tuple[float, float] | None) -> bool:
    return timed is None or timed[1] < timed[0] * (1 - MIXED_MUST_BEAT)


def _figures(timed: tuple[float, float] | None) -> dict | None:
    return None if timed is None else {"int8": _ms(timed[0]), "mixed": _ms(timed[1])}


def place(job: PlacementJob, primary: ProducedArtifact, fidelity_kept: list[str], fp32_path: Path,
          attempt: Callable[[list[str], Path], list[ProducedArtifact]], directory: Path,
          what: str) -> tuple[ProducedArtifact, list[ProducedArtifact]]:
    """The primary INT8 artifact with its layer timings in the meta, and the mixed INT8 artifact(s)
    (empty where no layer is slower in INT8, or no speed-kept set holds the floor)."""
    started = time.monotonic()
    try:
        timings = measure(job, fp32_path, Path(primary.path))
    except (StageError, RuntimeError, ValueError, OSError) as failed:  # timing is advice: never fail the step
        progress("quantize", f"{what}: latency-aware placement skipped: per-layer timing failed: {failed}")
        return _noted(primary, {"status": f"skipped: per-layer timing failed ({str(failed).splitlines()[0]})"}), []
    if timings.layers is None:
        fp32_ms, int8_ms = timings.whole_ms or (None, None)
        return _noted(primary, {"status": "no layer placed: the runtime cannot time its layers, so only whole "
                                          f"artifacts were timed (INT8 {_ms(int8_ms)} ms vs FP32 {_ms(fp32_ms)} ms)",
                                "timing": timings.how}), []
    search = {"timing": timings.how, "margin": SPEED_MARGIN}
    candidates = speed_kept(timings.layers)
    primary = primary.with_meta(layer_times=[layer.record() for layer in timings.layers][:MAX_LAYER_ROWS])
    if not candidates:
        return _noted(primary, {**search, "status": f"no INT8 layer is slower than its FP32 form by over "
                                                     f"{SPEED_MARGIN:.0%}: no mixed artifact"}), []
    saving, profiled = sum(layer.gain_ms for layer in candidates), sum(layer.int8_ms or 0.0 for layer in timings.layers)
    if saving < MIN_PREDICTED_GAIN * profiled:
        return _noted(primary, {**search, "status": f"{len(candidates)} INT8 layers are slower than FP32, but keeping "
                                                     f"them float would save {saving:.4f} of {profiled:.4f} ms (under "
                                                     f"{MIN_PREDICTED_GAIN:.0%}): no mixed artifact"}), []
    progress("quantize", f"{what}: {len(candidates)} INT8 layers slower than FP32 here; trying them float")
    folder = Path(directory) / "mixed"

    def mixed(names: list[str]) -> list[ProducedArtifact]:
        _empty(folder)
        return attempt(names, folder)

    def race(produced: list[ProducedArtifact]) -> tuple[float, float] | None:
        try:
            return race_whole(job, Path(primary.path), Path(produced[0].path))
        except (StageError, RuntimeError, ValueError, OSError) as failed:  # the benchmark stage still times it
            progress("quantize", f"{what}: mixed artifact kept unraced: whole-artifact timing failed: {failed}")
            return None

    kept, produced, misses = keep_for_speed(
        mixed, candidates, lambda: time.monotonic() - started > job.config.fallback_time_budget_s, race)
    search = {**search, "floor_misses": misses} if misses else search
    if not produced:
        shutil.rmtree(folder, ignore_errors=True)  # a rejected attempt must not look like an artifact
        return _noted(primary, {**search, "status": f"no mixed artifact: {_why_none(misses)}"}), []
    fp32_of = {layer.node: layer for layer in timings.layers}
    placement = [layer.record("speed") for layer in kept] + [
        (fp32_of[name] if name in fp32_of else LayerTiming(name, "", None, None)).record("fidelity")
        for name in fidelity_kept]
    for row in placement[len(kept):]:
        row["int8_ms"] = None  # float in the full INT8 artifact as well: it has no INT8 figure
    status = f"mixed artifact: {len(kept)} layers kept float for speed, {len(fidelity_kept)} for fidelity"
    made = [ProducedArtifact(p.path, p.kind, p.precision, "mixed" if p.variant == "default" else f"{p.variant}-mixed",
                             {**p.meta, "placement": placement, "placement_search": {**search, "status": status}})
            for p in produced]
    return _noted(primary, {**search, "status": status}), made


def _why_none(misses: list[dict]) -> str:
    slower = [miss for miss in misses if miss.get("whole_ms")]
    if not slower:
        return "every set of speed-kept layers tried missed the fidelity floor"
    last = slower[-1]["whole_ms"]
    return (f"every set of speed-kept layers that held the floor ran no faster than the full INT8 as a whole "
            f"(last: {last['mixed']} ms vs {last['int8']} ms): the Q/DQ and layout changes at the float "
            f"layers' edges cost more than the layers saved")


def _noted(item: ProducedArtifact, search: dict) -> ProducedArtifact:
    return item.with_meta(placement_search=search)


def _empty(folder: Path) -> None:
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
