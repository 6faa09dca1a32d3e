"""`compare` knows what it compares: a baseline from another edge-pipeline release series or another
runtime version is not comparable for latency. Its latency gates are skipped naming the versions
that differ (a latency regression no longer passes as a pass), accuracy still gates, and
--force-comparable gates latency anyway. The runs' files are read, never written."""

from __future__ import annotations

from edge_pipeline.reports.gates.errors import GATE_FAILED_EXIT_CODE
from edge_pipeline.reports.report_rows import report_rows
from tests.faults.harness import run_cli, snapshot
from tests.reports.report_factory import (
    changed,
    default_rows,
    make_manifest,
    make_report,
    timings,
    with_timings,
    write_run,
)


def _int8_three_times_slower():
    return make_report([with_timings(row, timings(row.latency_ms.p50 * 3, seed=5)) if row.precision == "int8"
                        else row for row in default_rows()])


def _old_baseline(folder):
    """A baseline written by edge-pipeline 0.0.1, its ONNX Runtime rows timed by onnxruntime 1.10.0."""
    rows = [changed(row, runtime_versions={row.backend: "1.10.0" if row.backend == "onnxruntime" else "1.0"})
            for row in default_rows()]
    manifest = {**make_manifest(), "tool_versions": {"edge-pipeline": "0.0.1", "onnxruntime": "1.10.0"}}
    return write_run(folder / "baseline", make_report(rows), manifest)


def _new_run(folder, report):
    manifest = {**make_manifest(), "tool_versions": {"edge-pipeline": "0.1.0", "onnxruntime": "1.0"}}
    return write_run(folder / "new", report, manifest)


def test_a_baseline_from_other_versions_skips_latency_naming_the_versions(tmp_path, capsys):
    baseline = _old_baseline(tmp_path)
    new = _new_run(tmp_path, _int8_three_times_slower())  # a latency regression, nothing else
    before = snapshot(tmp_path)
    code, out, err = run_cli(capsys, "compare", baseline, new)
    assert code == 0, (out, err)
    notes = [line for line in err.splitlines() if "not comparable for latency" in line]
    assert len(notes) == 1, err
    assert "edge-pipeline 0.0.1 vs 0.1.0" in notes[0] and "onnxruntime 1.10.0 vs 1.0" in notes[0], notes[0]
    assert "--force-comparable" in notes[0] and "accuracy, fidelity and size still are" in notes[0]
    assert "FAILED" not in out and "skipped" in out
    assert snapshot(tmp_path) == before


def test_the_skipped_gate_says_which_versions_differ(tmp_path):
    from edge_pipeline import api
    from edge_pipeline.reports.gates.thresholds import PASS, SKIPPED

    comparison = api.compare(_old_baseline(tmp_path), _new_run(tmp_path, make_report(default_rows())))
    latency = [r for r in comparison.results if r.gate == "latency"]
    ort = [r for r in latency if "onnxruntime" in r.subject]
    openvino = [r for r in latency if "openvino" in r.subject]
    assert ort and {r.status for r in ort} == {SKIPPED}
    assert all("other versions (edge-pipeline 0.0.1 vs 0.1.0, onnxruntime 1.10.0 vs 1.0)" in r.message for r in ort)
    # OpenVINO rows were timed by the same OpenVINO; only the tool's release series differs.
    assert openvino and {r.status for r in openvino} == {SKIPPED}
    assert all("onnxruntime" not in r.message and "edge-pipeline 0.0.1 vs 0.1.0" in r.message for r in openvino)
    assert {r.status for r in comparison.results if r.gate != "latency"} == {PASS}


def test_accuracy_still_gates_across_versions(tmp_path, capsys):
    baseline = _old_baseline(tmp_path)
    rows = [changed(row, accuracy=row.accuracy - 5) if row.precision == "int8" else row for row in default_rows()]
    new = _new_run(tmp_path, make_report(rows))
    code, out, err = run_cli(capsys, "compare", baseline, new)
    assert code == GATE_FAILED_EXIT_CODE, (out, err)
    assert "accuracy" in out and "FAILED" in out


def test_force_comparable_gates_latency_anyway(tmp_path, capsys):
    baseline = _old_baseline(tmp_path)
    slower = _int8_three_times_slower()
    new = _new_run(tmp_path, slower)
    code, out, err = run_cli(capsys, "compare", baseline, new, "--force-comparable")
    assert code == GATE_FAILED_EXIT_CODE, (out, err)
    failed = [line for line in out.splitlines() if line.startswith("FAIL") and "latency" in line]
    assert {line.split()[2] for line in failed} >= {r.artifact_id for r in report_rows(slower)
                                                    if r.precision == "int8" and r.backend == "onnxruntime"}
    assert "latency gated anyway (--force-comparable)" in err


def test_a_patch_release_of_the_runtime_is_comparable(tmp_path):
    from edge_pipeline import api
    from edge_pipeline.reports.gates.thresholds import PASS

    rows = [changed(row, runtime_versions={row.backend: "1.0.3"}) for row in default_rows()]
    comparison = api.compare(write_run(tmp_path / "baseline", make_report(default_rows()), make_manifest()),
                             write_run(tmp_path / "new", make_report(rows), make_manifest()))
    assert {r.status for r in comparison.results} == {PASS}
    assert not any("not comparable" in note for note in comparison.notes)
