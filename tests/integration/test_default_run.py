"""The embedded default, cold then warm, as the README's first command runs it."""

import json
import subprocess
import sys

import pytest


@pytest.mark.slow
def test_default_run_cold_then_warm(tmp_path, isolated_cache):
    command = [sys.executable, "-m", "edge_pipeline", "run", "--out", str(tmp_path / "bundle")]
    cold = subprocess.run(command, capture_output=True, text=True)
    assert cold.returncode == 0, cold.stderr[-2000:]
    assert cold.stdout.strip().endswith("bundle")
    warm = subprocess.run(command, capture_output=True, text=True)
    assert warm.returncode == 0, warm.stderr[-2000:]
    assert "re-using cached result" in warm.stderr and ": running" not in warm.stderr

    report = json.loads((tmp_path / "bundle" / "report.json").read_text())
    ort = [r for r in report["results"] if r["target"] == "x86-cpu-onnxruntime" and r["model"] == "teacher"]
    fp32 = next(r for r in ort if r["precision"] == "fp32")
    int8 = next(r for r in ort if r["precision"] == "int8")
    assert fp32["accuracy"] > 95.0
    assert abs(fp32["accuracy"] - int8["accuracy"]) <= 0.5
