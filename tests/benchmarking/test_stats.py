"""Warm-up modes and the outlier-robust latency summary."""

import numpy as np

from edge_pipeline.benchmarking import timing
from edge_pipeline.benchmarking.timing import outlier_mask, summarize, warm_up


def test_fixed_warmup_runs_exactly_the_count():
    calls = []
    assert warm_up(lambda: calls.append(1), 7) == {"mode": "fixed", "calls": 7}
    assert len(calls) == 7


def test_auto_warmup_stops_once_the_window_median_settles(monkeypatch):
    # Latency falls window by window (cold caches, arenas growing), then holds at 1 ms.
    latencies = iter([9.0] * 10 + [5.0] * 10 + [3.0] * 10 + [1.0] * 1000)
    monkeypatch.setattr(timing, "time_call", lambda call: next(latencies))
    done = warm_up(lambda: None, "auto")
    assert done["mode"] == "auto" and done["settled"] and done["calls"] == 50


def test_auto_warmup_gives_up_at_the_cap(monkeypatch):
    values = iter(np.tile([1.0, 3.0], 10_000))
    monkeypatch.setattr(timing, "time_call",
                        lambda call: float(np.mean([next(values) for _ in range(timing.SETTLE_WINDOW + 1)])))
    done = warm_up(lambda: None, "auto")
    assert done["calls"] <= timing.SETTLE_MAX_CALLS


def test_outliers_are_counted_and_left_out_of_the_trimmed_mean():
    samples = list(np.random.default_rng(0).normal(1.0, 0.01, 98)) + [50.0, 80.0]
    stats = summarize(samples)
    assert stats["outliers"] == 2 and stats["n"] == 100
    assert abs(stats["p50"] - 1.0) < 0.01 and stats["mad"] < 0.02
    assert stats["trimmed_mean"] < 1.01 < 2.0 < stats["mean"]
    low, high = stats["median_ci95"]
    assert low <= stats["p50"] <= high


def test_outlier_mask_uses_tukey_fences():
    data = np.array([10, 11, 12, 13, 14, 100.0])
    assert outlier_mask(data).tolist() == [False] * 5 + [True]
