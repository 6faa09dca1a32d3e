"""`benchmark` on an OpenVINO IR: its latency is OpenVINO's own timer of each call (request.latency,
what benchmark_app reports), with our clock around the call beside it; an ONNX Runtime row keeps ours."""

import json

import pytest

from edge_pipeline.backends.registry import probe
from edge_pipeline.benchmarking.rows import clock_fields
from edge_pipeline.cli.main import main
from tests.backends.onnxruntime.test_providers_and_profile import QUICK, tiny_model

pytestmark = [
    pytest.mark.openvino,
    pytest.mark.skipif(not probe("openvino")[0], reason="openvino/nncf not installed"),
]


def test_openvino_rows_report_the_runtime_timer_and_onnxruntime_rows_our_clock(tmp_path, monkeypatch):
    import openvino as ov

    monkeypatch.chdir(tmp_path)
    onnx_path = tiny_model(tmp_path / "tiny.onnx")
    ir = tmp_path / "tiny.xml"
    ov.save_model(ov.convert_model(str(onnx_path)), str(ir), compress_to_fp16=False)
    out = tmp_path / "results.json"
    assert main(["benchmark", str(ir), str(onnx_path), *QUICK, "--out", str(out)]) == 0
    by_backend = {r["backend"]: r["configs"][0] for r in json.loads(out.read_text())["results"]}

    openvino = by_backend["openvino"]
    assert openvino["latency_clock"] == "runtime" and "runtime_clock_ms" not in openvino
    call = openvino["call_clock_ms"]
    assert call["n"] == openvino["latency_ms"]["n"] == len(openvino["samples_ms"]) == 5
    # OpenVINO's timer runs inside our clock around each call, so every percentile is at most ours.
    assert 0 < openvino["latency_ms"]["p50"] <= call["p50"]
    assert clock_fields(openvino) == {"latency_clock": "runtime", "call_clock_p50_ms": call["p50"]}

    ort = by_backend["onnxruntime"]
    assert ort["latency_clock"] == "call" and "call_clock_ms" not in ort
    assert clock_fields(ort) == {"latency_clock": "call", "call_clock_p50_ms": None}
