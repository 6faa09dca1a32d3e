"""`benchmark --profile` on an OpenVINO IR: the CPU plugin's performance counters as the top layers."""

import json

import pytest

from edge_pipeline.backends.base import RunnerOptions
from edge_pipeline.backends.registry import load_runtime_backend, probe
from edge_pipeline.cli.main import main
from edge_pipeline.errors import StageError
from tests.backends.onnxruntime.test_providers_and_profile import QUICK, tiny_model

pytestmark = [
    pytest.mark.openvino,
    pytest.mark.skipif(not probe("openvino")[0], reason="openvino/nncf not installed"),
]

# The CPU plugin's own op names for the model's Conv and MatMul (a MatMul on constant weights
# runs as FullyConnected), plus the layout Reorders it inserts; the Relu fuses into the convolution.
IR_OPS = {"Convolution", "FullyConnected", "MatMul", "Reorder", "Reshape", "Relu"}


@pytest.fixture(scope="module")
def ir(tmp_path_factory):
    import openvino as ov

    folder = tmp_path_factory.mktemp("ov-profile")
    path = folder / "tiny.xml"
    ov.save_model(ov.convert_model(str(tiny_model(folder / "tiny.onnx"))), str(path), compress_to_fp16=False)
    return path


def test_profile_lists_the_ir_layers_with_kernels_and_shares(ir, tmp_path, monkeypatch, capsys):
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    out = tmp_path / "results.json"
    assert main(["benchmark", str(ir), *QUICK, "--profile", "--out", str(out)]) == 0
    (config,) = json.loads(out.read_text())["results"][0]["configs"]
    profile = config["profile"]
    op_types = {layer["op_type"] for layer in profile["layers"]}
    assert "Convolution" in op_types and op_types & {"FullyConnected", "MatMul"} and op_types <= IR_OPS
    assert sum(layer["percent"] for layer in profile["layers"]) == pytest.approx(100, abs=0.1)
    assert profile["runs"] == 5 and profile["trace"] is None  # counters, no trace file
    assert all(layer["kernel"] for layer in profile["layers"])  # the plugin's exec type, e.g. brgconv_avx2_f32
    assert {layer["precision"] for layer in profile["layers"]} <= {"f32", ""}  # the f32 default variant
    table = capsys.readouterr().out
    assert f"of {profile['layer_count']} layers over 5 runs" in table and "Convolution" in table
    assert list(cwd.iterdir()) == []


def test_a_runner_without_the_profiler_refuses_to_profile(ir):
    import numpy as np

    with load_runtime_backend("openvino").runner(ir, RunnerOptions(threads=1, variant="f32")) as runner:
        with pytest.raises(StageError, match="profile_prefix"):
            runner.profile_layers({"x": np.zeros((1, 3, 8, 8), np.float32)}, 1, 1)
