"""How sure we are that a latency changed: a bootstrap interval for the ratio of two medians.

Each report row keeps its repeated timings (``samples_ms``). Resampling both sides gives the spread
of new_median / baseline_median that the measurement noise alone would produce, so a gate can tell
"slower" from "the same, measured twice".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from edge_pipeline.benchmarking.rows import LatencyStats


class Timed(Protocol):
    """What the latency figures read of a row: a report row, a device row's timing (device_gates)."""

    @property
    def latency_ms(self) -> LatencyStats: ...

    @property
    def samples_ms(self) -> Sequence[float]: ...


@dataclass(frozen=True)
class RatioEstimate:
    ratio: float        # new p50 / baseline p50
    low: float          # lower bound of the confidence interval of the ratio
    high: float         # upper bound
    method: str         # how the interval was obtained, said in the gate message


def median_ratio(baseline_row: Timed, new_row: Timed, confidence: float, resamples: int,
                 baseline_ref: Timed | None = None, new_ref: Timed | None = None) -> RatioEstimate:
    """new p50 / baseline p50. With reference rows (each run's own FP32 teacher) it is
    (new / new_ref) / (baseline / baseline_ref): the change in latency relative to the teacher, which
    cancels a uniformly faster or slower machine."""
    over = [new_row] + ([baseline_ref] if baseline_ref else [])
    under = [baseline_row] + ([new_ref] if new_ref else [])
    ratio = _product([r.latency_ms.p50 for r in over]) / _product([r.latency_ms.p50 for r in under])
    samples_over, samples_under = _all_samples(over), _all_samples(under)
    if samples_over is not None and samples_under is not None:
        return _bootstrap(samples_over, samples_under, confidence, resamples)
    intervals_over, intervals_under = _all_intervals(over), _all_intervals(under)
    if intervals_over is not None and intervals_under is not None:
        # Without raw samples, the widest ratio the median intervals allow (conservative).
        low = _product([ci[0] for ci in intervals_over]) / _product([ci[1] for ci in intervals_under])
        high = _product([ci[1] for ci in intervals_over]) / _product([ci[0] for ci in intervals_under])
        return RatioEstimate(ratio, low, high, "95% median intervals")
    return RatioEstimate(ratio, ratio, ratio, "point estimates only (no repeated timings recorded)")


def _product(values: list[float]) -> float:
    return float(np.prod(values))


def _all_samples(rows: list[Timed]) -> list[np.ndarray] | None:
    """Each row's timings, or None when any row lacks them (then no bootstrap is possible)."""
    samples = [_samples(row) for row in rows]
    present = [s for s in samples if s is not None]
    return present if len(present) == len(rows) else None


def _all_intervals(rows: list[Timed]) -> list[tuple[float, float]] | None:
    """Each row's median interval, or None when any row lacks one."""
    intervals = [_median_interval(row) for row in rows]
    present = [ci for ci in intervals if ci is not None]
    return present if len(present) == len(rows) else None


def _median_interval(row: Timed) -> tuple[float, float] | None:
    low, high = row.latency_ms.median_ci95
    # (0, 0) is LatencyStats' default: no interval was recorded, and dividing by it means nothing.
    return (low, high) if low > 0 and high > 0 else None


def _samples(row: Timed) -> np.ndarray | None:
    samples = row.samples_ms
    if len(samples) < 5:
        return None
    return np.asarray(samples, dtype=np.float64)


def _bootstrap(over: list[np.ndarray], under: list[np.ndarray], confidence: float, resamples: int) -> RatioEstimate:
    # A fixed seed: the same two reports always give the same verdict.
    rng = np.random.default_rng(0)
    ratios = np.ones(resamples)
    for samples in over:
        ratios *= _resampled_medians(samples, rng, resamples)
    for samples in under:
        ratios /= _resampled_medians(samples, rng, resamples)
    tail = (1.0 - confidence) / 2 * 100
    low, high = np.percentile(ratios, [tail, 100 - tail])
    ratio = _product([np.median(s) for s in over]) / _product([np.median(s) for s in under])
    return RatioEstimate(ratio, float(low), float(high), f"{confidence:.0%} bootstrap interval of the median ratio")


def _resampled_medians(samples: np.ndarray, rng: np.random.Generator, resamples: int) -> np.ndarray:
    picks = rng.integers(0, len(samples), size=(resamples, len(samples)))  # (resamples, n)
    return np.median(samples[picks], axis=1)


def relative_spread(row: Timed) -> float | None:
    """Interquartile range over median of a row's timings: ~0.02-0.05 on a quiet CPU."""
    samples = _samples(row)
    if samples is None:
        return None
    q25, q50, q75 = np.percentile(samples, [25, 50, 75])
    return float((q75 - q25) / q50) if q50 > 0 else None


def spread_warning(baseline_row: Timed, new_row: Timed) -> str | None:
    """Say so when one side's timings are far noisier than the other's: the interval only knows the
    noise inside each run, and a machine busy during one run shifts that whole run."""
    base, new = relative_spread(baseline_row), relative_spread(new_row)
    if base is None or new is None:
        return None
    noisier, quieter, which = (new, base, "new") if new >= base else (base, new, "baseline")
    if noisier > 0.1 and noisier > 2 * quieter:
        return (f"the {which} run's timings are far more spread (IQR {noisier:.0%} of the median vs {quieter:.0%}): "
                "the machine was likely busy; re-measure on a quiet machine before trusting this verdict")
    return None
