"""How sure we are that a latency changed: a bootstrap interval for the ratio of two medians.

Each report row keeps its repeated timings (``samples_ms``). Resampling both sides gives the spread
of new_median / baseline_median that the measurement noise alone would produce, so a gate can tell
"slower" from "the same, measured twice".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class RatioEstimate:
    ratio: float        # new p50 / baseline p50
    low: float          # lower bound of the confidence interval of the ratio
    high: float         # upper bound
    method: str         # how the interval was obtained, said in the gate message


def median_ratio(baseline_row: dict, new_row: dict, confidence: float, resamples: int) -> RatioEstimate:
    base_samples = _samples(baseline_row)
    new_samples = _samples(new_row)
    if base_samples is not None and new_samples is not None:
        return _bootstrap(base_samples, new_samples, confidence, resamples)
    base_ci = baseline_row["latency_ms"].get("median_ci95")
    new_ci = new_row["latency_ms"].get("median_ci95")
    ratio = new_row["latency_ms"]["p50"] / baseline_row["latency_ms"]["p50"]
    if base_ci and new_ci:
        # Without raw samples, the widest ratio the two median intervals allow (conservative).
        return RatioEstimate(ratio, new_ci[0] / base_ci[1], new_ci[1] / base_ci[0], "95% median intervals")
    return RatioEstimate(ratio, ratio, ratio, "point estimates only (no repeated timings recorded)")


def _samples(row: dict) -> np.ndarray | None:
    samples = row.get("samples_ms")
    if not samples or len(samples) < 5:
        return None
    return np.asarray(samples, dtype=np.float64)


def _bootstrap(base: np.ndarray, new: np.ndarray, confidence: float, resamples: int) -> RatioEstimate:
    # A fixed seed: the same two reports always give the same verdict.
    rng = np.random.default_rng(0)
    base_medians = _resampled_medians(base, rng, resamples)
    new_medians = _resampled_medians(new, rng, resamples)
    ratios = new_medians / base_medians
    tail = (1.0 - confidence) / 2 * 100
    low, high = np.percentile(ratios, [tail, 100 - tail])
    ratio = float(np.median(new) / np.median(base))
    return RatioEstimate(ratio, float(low), float(high), f"{confidence:.0%} bootstrap interval of the median ratio")


def _resampled_medians(samples: np.ndarray, rng: np.random.Generator, resamples: int) -> np.ndarray:
    picks = rng.integers(0, len(samples), size=(resamples, len(samples)))  # (resamples, n)
    return np.median(samples[picks], axis=1)
