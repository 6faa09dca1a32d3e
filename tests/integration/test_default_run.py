"""The embedded default, cold then warm, as the README's first command runs it."""

import json
import subprocess

import pytest

FINAL = "student-pruned"


@pytest.mark.slow
def test_cold_run_prints_the_bundle_and_writes_reports(default_run):
    assert default_run.cold.stdout.strip().endswith("bundle")
    for name in ("manifest.json", "report.json", "report.md", "report.html"):
        assert (default_run.bundle / name).is_file(), name


@pytest.mark.slow
def test_warm_rerun_reuses_every_stage(default_run):
    warm = subprocess.run(default_run.command, capture_output=True, text=True)
    assert warm.returncode == 0, warm.stderr[-2000:]
    assert "re-using cached result" in warm.stderr and ": running" not in warm.stderr


def ort_rows(bundle, model):
    report = json.loads((bundle / "report.json").read_text())
    rows = [r for r in report["results"] if r["target"] == "x86-cpu-onnxruntime" and r["model"] == model]
    return {r["precision"]: r for r in rows}


@pytest.mark.slow
def test_int8_keeps_fp32_accuracy(default_run):
    teacher = ort_rows(default_run.bundle, "teacher")
    assert teacher["fp32"]["accuracy"] > 95.0
    assert abs(teacher["fp32"]["accuracy"] - teacher["int8"]["accuracy"]) <= 0.5


@pytest.mark.slow
def test_final_student_is_small_and_accurate(default_run):
    teacher, student = ort_rows(default_run.bundle, "teacher"), ort_rows(default_run.bundle, FINAL)
    assert student["fp32"]["macs"] <= 0.30 * teacher["fp32"]["macs"]
    assert student["fp32"]["accuracy"] >= teacher["fp32"]["accuracy"] - 1.0
    assert student["int8"]["accuracy"] >= teacher["fp32"]["accuracy"] - 1.5


@pytest.mark.slow
def test_every_default_target_has_rows(default_run):
    report = json.loads((default_run.bundle / "report.json").read_text())
    recipe_targets = json.loads((default_run.bundle / "manifest.json").read_text())["recipe"]["snapshot"]["targets"]
    assert {r["target"] for r in report["results"]} == set(recipe_targets)


@pytest.mark.slow
def test_x86_rows_pool_three_interleaved_rounds(default_run):
    """x86 targets time each artifact in three fresh processes, taken in turn with the others."""
    report = json.loads((default_run.bundle / "report.json").read_text())
    for row in report["results"]:
        rounds = 3 if row["target"] in ("x86-cpu-onnxruntime", "x86-cpu-openvino") else 1
        assert len(row["round_p50_ms"]) == rounds, row["artifact_id"]
        assert min(row["round_p50_ms"]) <= row["latency_ms"]["p50"] <= max(row["round_p50_ms"])
    steps = [s["step"] for s in json.loads((default_run.bundle / "manifest.json").read_text())["steps"]]
    timed = [s for s in steps if " round " in s]
    # Round 1 of every x86 artifact comes before round 2 of any.
    assert max(i for i, s in enumerate(timed) if s.endswith("round 1/3")) < min(
        i for i, s in enumerate(timed) if s.endswith("round 2/3"))
