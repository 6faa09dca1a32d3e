import numpy as np
import pytest

from edge_pipeline.benchmarking.rounds import pool_rounds
from edge_pipeline.benchmarking.rows import clock_fields
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


def _round(samples: list[float]) -> dict:
    return {
        "configs": [
            {"batch_size": 4, "threads": 2, "latency_ms": summarize(samples), "samples_ms": samples,
             "throughput_per_s": 0.0},
            {"batch_size": 8, "threads": 2, "skipped": "model batch is fixed at 4"},
        ],
        "cold_start": {"2": {"load_s": 0.1}},
    }


def test_rounds_pool_samples_and_keep_each_rounds_median():
    first, second = _round([1.0, 1.1, 1.2]), _round([2.0, 2.1, 2.2, 2.3])
    pooled = pool_rounds([first, second])
    timed, skipped = pooled["configs"]
    assert timed["latency_ms"]["n"] == 7 and timed["latency_ms"]["p50"] == 2.0
    assert [r["p50"] for r in timed["rounds"]] == pytest.approx([1.1, 2.15])
    assert timed["throughput_per_s"] == 4 * 1e3 / 2.0
    assert skipped == first["configs"][1] and pooled["cold_start"] == first["cold_start"]
    assert pool_rounds([first]) is first


def test_rounds_timed_by_the_runtime_keep_our_clock_per_round():
    first, second = _round([1.0, 1.1, 1.2]), _round([2.0, 2.1, 2.2, 2.3])
    for result, call_p50 in ((first, 1.3), (second, 2.4)):
        clock = {"p50": call_p50, "p90": 9.0, "p99": 9.0, "n": 3}
        result["configs"][0].update(latency_clock="runtime", call_clock_ms=clock)
    timed = pool_rounds([first, second])["configs"][0]
    assert "call_clock_ms" not in timed and timed["latency_clock"] == "runtime"
    assert [r["call_clock_p50"] for r in timed["rounds"]] == [1.3, 2.4]
    assert clock_fields(timed) == {"latency_clock": "runtime", "call_clock_p50_ms": pytest.approx(1.85)}
    assert clock_fields(first["configs"][0])["call_clock_p50_ms"] == 1.3
