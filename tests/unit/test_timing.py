import numpy as np

from edge_pipeline.benchmarking.timing import median_confidence_interval, summarize, time_calls


def test_summary_percentiles_are_ordered():
    samples = list(np.random.default_rng(0).lognormal(0, 0.3, 500))
    stats = summarize(samples)
    assert stats["min"] <= stats["p50"] <= stats["p90"] <= stats["p99"] <= stats["max"]
    low, high = stats["median_ci95"]
    assert low <= stats["p50"] <= high and stats["n"] == 500


def test_median_ci_narrows_with_more_samples():
    rng = np.random.default_rng(1)
    small = median_confidence_interval(rng.normal(10, 1, 30))
    large = median_confidence_interval(rng.normal(10, 1, 3000))
    assert (large[1] - large[0]) < (small[1] - small[0])


def test_time_calls_counts_warmup_separately():
    calls = []
    samples = time_calls(lambda: calls.append(1), warmup=5, iterations=20, time_budget_s=None)
    assert len(samples) == 20 and len(calls) == 25
