"""Trustworthy measurements: per-row warnings (load, spread, CI width), the report's
measurement_warnings (also mixed machines and days from the stage cache), run_info, and which rows
may stand in headline figures. Synthetic rows only: milliseconds, no benchmarking."""

from __future__ import annotations

import numpy as np
import pytest

from edge_pipeline.reports import json_report
from edge_pipeline.reports.measurement import measurement_warnings, row_warnings, run_info, with_measurement_checks
from edge_pipeline.reports.report_rows import report_rows
from edge_pipeline.stages.benchmark import _stamp_fields, pooled_stamps
from tests.reports.report_factory import changed, default_rows, make_report, make_row, with_timings

CALM = [0.3, 0.3, 0.2]


def stamped(row, at="2026-11-26T10:00:00+00:00", host="box-a (AMD EPYC)", start=CALM, end=CALM):
    return changed(row, measured_at=at, measured_host=host, load_avg_start=start, load_avg_end=end)


@pytest.fixture
def two_cpus(monkeypatch):
    monkeypatch.setattr(json_report, "usable_cpus", lambda: 2)


def test_a_quiet_run_has_no_warnings_and_every_device_row_is_headline_eligible(two_cpus):
    report = make_report([stamped(row) for row in default_rows()])
    assert report["measurement_warnings"] == []
    assert all(row["warnings"] == [] and row["headline_eligible"] for row in report["results"])
    assert list(report)[-2:] == ["run_info", "measurement_warnings"]


def test_load_above_the_usable_cpus_warns_on_the_row_and_the_report(two_cpus):
    rows = [stamped(row) for row in default_rows()]
    rows[2] = stamped(rows[2], end=[3.4, 1.0, 0.5])
    report = make_report(rows)
    assert report["results"][2]["warnings"] == ["load 3.40 (1-min average) above 2 usable CPUs while timed"]
    [warning] = report["measurement_warnings"]
    assert "3.40" in warning and "2 usable CPUs" in warning and rows[2].artifact_id in warning
    assert "idle machine" in warning and "taskset" in warning


def test_heavy_tail_warns_about_spread():
    samples = [1.0] * 85 + [2.5] * 15  # p90/p50 = 2.5: a neighbour stole the cores for 15% of the calls
    row = with_timings(default_rows()[0], samples)
    assert row_warnings(row, 2) == ["spread p90/p50 2.50"]
    [warning] = measurement_warnings([row], 2)
    assert "p90/p50 above 1.5" in warning and "(2.50)" in warning and "benchmark.iterations" in warning


def test_few_noisy_samples_warn_that_the_median_is_not_pinned_down():
    samples = list(np.random.default_rng(3).uniform(1.0, 1.6, 9))
    row = with_timings(default_rows()[0], samples)
    assert any(w.startswith("median CI95 width") for w in row_warnings(row, 2))
    assert any("95% CI wider than 20% of p50" in w for w in measurement_warnings([row], 2))


def test_rounds_that_disagree_warn_that_the_machine_changed_speed():
    # The lent Xeon's INT8 ResNet-18: 3.3-4.0 ms in most fresh processes, 1.6 ms in one.
    row = changed(default_rows()[0], round_p50_ms=[3.98, 4.01, 1.61, 3.65])
    assert row_warnings(row, 2) == ["rounds disagree: slowest round's p50 2.49x the fastest's"]
    [warning] = measurement_warnings([row], 2)
    assert "changed between rounds" in warning and "(2.49x)" in warning and "same rounds" in warning
    steady = changed(row, round_p50_ms=[3.98, 4.01, 3.31, 3.65])
    assert row_warnings(steady, 2) == [] and measurement_warnings([steady], 2) == []


def test_rows_from_two_machines_are_never_mixed_silently():
    rows = [stamped(row) for row in default_rows()]
    rows[4] = stamped(rows[4], host="box-b (AMD EPYC)")  # same CPU model: same cache key, other machine
    [warning] = measurement_warnings(rows, 2)
    assert "2 machines" in warning and "box-a" in warning and "box-b" in warning
    assert "cache clean --stage benchmark" in warning


def test_timings_days_apart_warn_but_hours_apart_do_not():
    rows = [stamped(row) for row in default_rows()]
    rows[1] = stamped(rows[1], at="2026-11-26T20:00:00+00:00")
    assert measurement_warnings(rows, 2) == []
    rows[3] = stamped(rows[3], at="2026-11-20T09:00:00+00:00")
    [warning] = measurement_warnings(rows, 2)
    assert "155 h apart" in warning and rows[3].artifact_id in warning


def test_host_timed_and_simulated_rows_are_kept_out_of_headlines(two_cpus):
    rows = default_rows() + [make_row("student", "int8", median_ms=0.3, accuracy=98.3, size_bytes=760_000,
                                      variant="stand-in", simulated=True)]
    rows[1] = changed(rows[1], measured_on="host")
    results = make_report(rows)["results"]
    assert [r["headline_eligible"] for r in results] == [True, False, True, True, True, True, True, False]
    assert results[-1]["speedup_vs_baseline"] is None


def test_a_report_rebuilt_from_its_rows_does_not_stack_warnings(two_cpus):
    rows = [stamped(row, end=[5.0, 2.0, 1.0]) for row in default_rows()]
    report = make_report(rows)
    again = make_report(report_rows(report))
    assert again["results"] == report["results"]
    assert again["measurement_warnings"] == report["measurement_warnings"]
    assert with_measurement_checks(report_rows(report), 2)[0].warnings == report["results"][0]["warnings"]


def test_run_info_names_the_host_and_the_load_at_the_start_and_end_of_timing():
    rows = [stamped(row, at=f"2026-11-26T10:0{i}:00+00:00", start=[float(i)] * 3, end=[i + 0.5] * 3)
            for i, row in enumerate(default_rows())]
    info = run_info(list(reversed(rows)), {"onnxruntime": "1.32.0"})
    assert info["load_avg_start"] == [0.0] * 3 and info["load_avg_end"] == [6.5] * 3
    assert info["measured_from_utc"] == "2026-11-26T10:00:00+00:00"
    assert info["measured_until_utc"] == "2026-11-26T10:06:00+00:00"
    assert info["measured_hosts"] == ["box-a (AMD EPYC)"] and info["versions"] == {"onnxruntime": "1.32.0"}
    assert info["clock_state"] in ("locked", "unlocked", "unknown") and info["usable_cpus"] >= 1
    for key in ("host", "cpu_model", "cpu_flags", "physical_cores", "os", "python", "created_utc"):
        assert key in info


def test_benchmark_stage_stamps_a_row_with_its_first_start_and_last_end():
    def result(start_utc, end_utc, host, load):
        return {"measured": {"start": {"utc": start_utc, "host": host, "load_avg": [load] * 3},
                             "end": {"utc": end_utc, "host": host, "load_avg": [load + 1] * 3}}}

    rounds = [result("t0", "t1", "box-a (X)", 0.5), result("t2", "t3", "box-a (X)", 1.5)]
    assert _stamp_fields(pooled_stamps(rounds)) == {
        "measured_at": "t3", "measured_host": "box-a (X)", "load_avg_start": [0.5] * 3, "load_avg_end": [2.5] * 3}
    rounds[1] = result("t2", "t3", "box-b (X)", 1.5)  # a round cached on a look-alike machine
    assert _stamp_fields(pooled_stamps(rounds))["measured_host"] == "box-a (X) + box-b (X)"
    assert pooled_stamps([{}]) == {} and _stamp_fields({}) == {}  # cached before stamps existed
