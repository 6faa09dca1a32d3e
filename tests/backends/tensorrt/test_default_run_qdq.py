"""The default teacher through the pipeline on the TensorRT targets: the Q/DQ model and the Jetson
bundle of the session's default run. A file of its own: its one test waits for that run, and under
pytest-xdist (--dist loadfile) it then goes to a worker with the other default-run tests, last."""

import json
import py_compile
import subprocess
import sys

import pytest

from tests.backends.tensorrt.test_qdq import HAS_TENSORRT, _assert_tensorrt_rules


@pytest.mark.slow
def test_default_run_writes_the_qdq_model_and_the_jetson_bundle(tmp_path, default_run):
    bundle = default_run.bundle
    manifest = json.loads((bundle / "manifest.json").read_text())
    report = json.loads((bundle / "report.json").read_text())
    by_id = {a["id"]: a for a in manifest["artifacts"]}

    for target in ("x86-gpu-tensorrt", "jetson-orin-tensorrt"):
        qdq = by_id[f"teacher/{target}/int8"]
        _assert_tensorrt_rules(bundle / qdq["path"])
        assert qdq["meta"]["qdq"]["residual_adds"] == 6
        rows = {r["precision"]: r for r in report["results"] if r["target"] == target}
        assert {r["runtime_variant"] for r in rows.values()} == {"ort-simulated"}
        assert abs(rows["int8"]["accuracy_delta_vs_baseline"]) <= 1.0
        assert rows["int8"]["speedup_vs_baseline"] is None  # CPU timings of a simulation claim no speedup
    assert by_id["teacher/jetson-orin-tensorrt/int8"]["meta"]["calibration"]["statistics"].startswith("re-used")
    if not HAS_TENSORRT:
        skipped = [n for n in manifest["notes"] if "skipped: tensorrt not installed; fix:" in n]
        # x86 GPU builds engines here (skipped without TensorRT); Jetson builds on the device instead.
        assert {"teacher/x86-gpu-tensorrt/fp32", "teacher/x86-gpu-tensorrt/int8"} <= {n.split(":")[0] for n in skipped}
        assert not any("jetson-orin-tensorrt" in n for n in skipped)
        # The report adds notes about what it measured (e.g. an INT8 row that was not faster) after the run's own.
        assert report["notes"][:len(manifest["notes"])] == manifest["notes"]

    device_bundle = bundle / by_id["teacher/jetson-orin-tensorrt/int8-jetson-bundle"]["path"]
    names = {p.name for p in device_bundle.iterdir()}
    assert {"model.int8.qdq.onnx", "build_and_benchmark.py", "bundle.json", "manifest.json", "README.md"} <= names
    py_compile.compile(str(device_bundle / "build_and_benchmark.py"), cfile=str(tmp_path / "script.pyc"), doraise=True)
    dry = subprocess.run(
        [sys.executable, str(device_bundle / "build_and_benchmark.py"), "--dry-run"],
        capture_output=True, text=True, cwd=tmp_path,
    )
    assert dry.returncode == 0, dry.stderr
    assert "profile:      min 1x1x8x8" in dry.stdout and "trtexec --onnx=model.int8.qdq.onnx" in dry.stdout
    assert "--stronglyTyped" in dry.stdout and "--int8" not in dry.stdout
