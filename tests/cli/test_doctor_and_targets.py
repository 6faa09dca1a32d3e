"""`doctor` says what works per backend (never "ok" for half a backend); both commands speak JSON."""

import importlib.util
import json

import pytest

from edge_pipeline.benchmarking.host import host_arch
from edge_pipeline.cli.main import main


def test_doctor_json_gives_each_backend_a_status_and_its_parts(capsys):
    assert main(["doctor", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    statuses = {b["name"]: b for b in report["backends"]}
    assert {"onnxruntime", "openvino", "tensorrt"} <= set(statuses)
    assert statuses["onnxruntime"]["status"] == "ready"
    if importlib.util.find_spec("tensorrt") is None:
        tensorrt = statuses["tensorrt"]
        assert tensorrt["status"] == "partial"  # Q/DQ models and device bundles, no engine here
        assert any("engine build" in part and "pip install" in part for part in tensorrt["missing"])


@pytest.mark.skipif(importlib.util.find_spec("tensorrt") is not None, reason="TensorRT is installed here")
def test_doctor_text_does_not_call_a_partial_backend_ok(capsys):
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert "tensorrt     partial" in out and "tensorrt     ok" not in out


def test_targets_json_lists_every_profile(capsys):
    assert main(["targets", "--json"]) == 0
    targets = {t["name"]: t for t in json.loads(capsys.readouterr().out)}
    assert targets["x86-cpu-onnxruntime"]["backend"] == "onnxruntime"
    assert "int8" in targets["x86-cpu-openvino"]["precisions"]
    assert targets["x86-cpu-onnxruntime-avx2"]["features"] == ["avx2"]
    assert targets["x86-cpu-onnxruntime"]["features"] == ["avx512_vnni"]
    if host_arch() == "x86_64":  # another instruction set's features say nothing about this host
        assert targets["android-arm64-onnxruntime"]["features_missing_here"] is None
