"""Latency sampling and outlier-robust summaries, in milliseconds. numpy only."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

# Warm-up "until settled": runs in windows of this many calls, stopping once the median of a
# window is within SETTLE_TOLERANCE of the previous window's median (caches, allocator arenas
# and lazy kernel selection have stopped changing the latency).
SETTLE_WINDOW = 10
SETTLE_TOLERANCE = 0.05
SETTLE_MAX_CALLS = 500


def time_call(call: Callable[[], object]) -> float:
    start = time.perf_counter()
    call()
    return (time.perf_counter() - start) * 1e3


def warm_up(call: Callable[[], object], warmup: int | str) -> dict:
    """``warmup`` calls, or with ``"auto"`` until the window median settles; returns what was done."""
    if warmup != "auto":
        for _ in range(int(warmup)):
            call()
        return {"mode": "fixed", "calls": int(warmup)}
    previous, calls = None, 0
    while calls < SETTLE_MAX_CALLS:
        window = float(np.median([time_call(call) for _ in range(SETTLE_WINDOW)]))
        calls += SETTLE_WINDOW
        if previous is not None and abs(window - previous) <= SETTLE_TOLERANCE * previous:
            return {"mode": "auto", "calls": calls, "settled": True}
        previous = window
    return {"mode": "auto", "calls": calls, "settled": False}


def time_calls(call: Callable[[], object], warmup: int, iterations: int, time_budget_s: float | None) -> list[float]:
    """Run ``call`` ``warmup`` times untimed, then up to ``iterations`` timed runs (or until the budget)."""
    warm_up(call, warmup)
    return sample(call, iterations, time_budget_s)


def sample(call: Callable[[], object], iterations: int, time_budget_s: float | None,
           after_each: Callable[[], None] | None = None) -> list[float]:
    """Timed runs of ``call``; ``after_each`` runs after each one, outside the timed span."""
    samples: list[float] = []
    deadline = None if time_budget_s is None else time.perf_counter() + time_budget_s
    while len(samples) < iterations:
        samples.append(time_call(call))
        if after_each is not None:
            after_each()
        if deadline is not None and time.perf_counter() >= deadline and len(samples) >= 10:
            break
    return samples


def median_confidence_interval(samples: np.ndarray, confidence: float = 0.95) -> tuple[float, float]:
    """Distribution-free CI of the median from order statistics (normal approximation to the binomial)."""
    n = len(samples)
    ordered = np.sort(samples)
    z = 1.959963984540054 if confidence == 0.95 else 2.5758293035489004
    half = z * np.sqrt(n) / 2
    low = max(int(np.floor(n / 2 - half)), 0)
    high = min(int(np.ceil(n / 2 + half)), n - 1)
    return float(ordered[low]), float(ordered[high])


def outlier_mask(data: np.ndarray) -> np.ndarray:
    """Tukey's fences (1.5 IQR beyond the quartiles): preemption and page faults, not the model."""
    q1, q3 = np.percentile(data, [25, 75])
    spread = 1.5 * (q3 - q1)
    return (data < q1 - spread) | (data > q3 + spread)


def summarize(samples_ms: list[float]) -> dict[str, float]:
    data = np.asarray(samples_ms, dtype=np.float64)
    low, high = median_confidence_interval(data)
    outliers = outlier_mask(data)
    kept = data[~outliers] if (~outliers).any() else data
    median = float(np.percentile(data, 50))
    return {
        "p50": median,
        "p90": float(np.percentile(data, 90)),
        "p99": float(np.percentile(data, 99)),
        "mean": float(data.mean()),
        "std": float(data.std(ddof=1)) if len(data) > 1 else 0.0,
        "min": float(data.min()),
        "max": float(data.max()),
        "median_ci95": [low, high],
        "mad": float(np.median(np.abs(data - median))),
        "iqr": float(np.subtract(*np.percentile(data, [75, 25]))),
        "trimmed_mean": float(kept.mean()),
        "outliers": int(outliers.sum()),
        "n": int(len(data)),
    }
