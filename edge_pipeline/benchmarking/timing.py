"""Latency sampling and robust summaries, in milliseconds."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np


def time_calls(call: Callable[[], object], warmup: int, iterations: int, time_budget_s: float | None) -> list[float]:
    """Run ``call`` ``warmup`` times untimed, then up to ``iterations`` timed runs (or until the budget)."""
    for _ in range(warmup):
        call()
    samples: list[float] = []
    deadline = None if time_budget_s is None else time.perf_counter() + time_budget_s
    while len(samples) < iterations:
        start = time.perf_counter()
        call()
        samples.append((time.perf_counter() - start) * 1e3)
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


def summarize(samples_ms: list[float]) -> dict[str, float]:
    data = np.asarray(samples_ms, dtype=np.float64)
    low, high = median_confidence_interval(data)
    return {
        "p50": float(np.percentile(data, 50)),
        "p90": float(np.percentile(data, 90)),
        "p99": float(np.percentile(data, 99)),
        "mean": float(data.mean()),
        "std": float(data.std(ddof=1)) if len(data) > 1 else 0.0,
        "min": float(data.min()),
        "max": float(data.max()),
        "median_ci95": [low, high],
        "n": int(len(data)),
    }
