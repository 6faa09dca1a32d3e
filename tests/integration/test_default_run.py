"""The embedded default, cold then warm, as the README's first command runs it (with the trimmed
training and timing budgets of tests/conftest.py: the accuracy bars here are for 3 training epochs;
the full default's figures are in the README)."""

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
    assert "re-using cached results" in warm.stderr and ": running" not in warm.stderr


def ort_rows(bundle, model):
    report = json.loads((bundle / "report.json").read_text())
    rows = [r for r in report["results"] if r["target"] == "x86-cpu-onnxruntime" and r["model"] == model]
    return {r["precision"]: r for r in rows}


@pytest.mark.slow
def test_int8_keeps_fp32_accuracy(default_run):
    teacher = ort_rows(default_run.bundle, "teacher")
    assert teacher["fp32"]["accuracy"] > 90.0
    assert abs(teacher["fp32"]["accuracy"] - teacher["int8"]["accuracy"]) <= 1.5


@pytest.mark.slow
def test_final_student_is_small_and_accurate(default_run):
    teacher, student = ort_rows(default_run.bundle, "teacher"), ort_rows(default_run.bundle, FINAL)
    assert student["fp32"]["macs"] <= 0.30 * teacher["fp32"]["macs"]
    assert student["fp32"]["accuracy"] >= teacher["fp32"]["accuracy"] - 3.0
    assert student["int8"]["accuracy"] >= teacher["fp32"]["accuracy"] - 3.5


@pytest.mark.slow
def test_every_target_of_the_run_has_rows(default_run):
    report = json.loads((default_run.bundle / "report.json").read_text())
    recipe_targets = json.loads((default_run.bundle / "manifest.json").read_text())["recipe"]["snapshot"]["targets"]
    assert {r["target"] for r in report["results"]} == set(recipe_targets)
