"""`benchmark --provider` (ORT execution providers, checked and recorded) and `--profile` (per-layer
times from ORT's session profiler), on a tiny Conv -> Relu -> Reshape -> MatMul model."""

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper
from pydantic import ValidationError

from edge_pipeline.backends.base import RunnerOptions
from edge_pipeline.backends.onnxruntime.options import OnnxRuntimeOptions
from edge_pipeline.backends.onnxruntime.profiling import layer_times
from edge_pipeline.backends.onnxruntime.providers import check_assigned, check_available, parse_providers
from edge_pipeline.backends.registry import load_runtime_backend
from edge_pipeline.cli.main import main
from edge_pipeline.errors import BackendUnavailableError, ConfigError

MODEL_OPS = {"Conv", "Relu", "Reshape", "MatMul"}
# Layout ops ORT's optimizer inserts around an NCHWc convolution: they run, so they are profiled.
ORT_LAYOUT_OPS = {"ReorderInput", "ReorderOutput"}
QUICK = ["--iterations", "5", "--warmup", "1", "--threads", "1"]


def tiny_model(path):
    rng = np.random.default_rng(0)
    weights = [numpy_helper.from_array(rng.standard_normal((4, 3, 3, 3)).astype(np.float32), "w"),
               numpy_helper.from_array(rng.standard_normal((256, 5)).astype(np.float32), "m"),
               numpy_helper.from_array(np.array([-1, 256], dtype=np.int64), "shape")]
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], name="conv", pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["r"], name="relu"),
             helper.make_node("Reshape", ["r", "shape"], ["f"], name="flatten"),
             helper.make_node("MatMul", ["f", "m"], ["y"], name="fc")]
    graph = helper.make_graph(nodes, "tiny", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 5])], weights)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return tiny_model(tmp_path_factory.mktemp("ort-providers") / "tiny.onnx")


@pytest.fixture
def empty_cwd(tmp_path, monkeypatch):
    """The user's folder: nothing the benchmark writes (ORT's profile file by default) may land here."""
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    return cwd


def test_provider_names_map_to_ort_names_in_priority_order():
    assert parse_providers(["cuda,cpu", "TensorrtExecutionProvider", "cuda"]) == [
        "CUDAExecutionProvider", "CPUExecutionProvider", "TensorrtExecutionProvider"]
    assert parse_providers("XNNPACK") == ["XnnpackExecutionProvider"]
    with pytest.raises(ConfigError, match="unknown execution provider 'gpu'; use one of cpu, cuda"):
        parse_providers("gpu")


def test_a_missing_provider_is_one_line_naming_what_is_here_and_what_to_install():
    with pytest.raises(BackendUnavailableError) as caught:
        check_available(["CUDAExecutionProvider"], ["AzureExecutionProvider", "CPUExecutionProvider"])
    message = str(caught.value)
    assert "\n" not in message
    assert "CUDAExecutionProvider is not in this ONNX Runtime (available: azure, cpu)" in message
    assert "pip install onnxruntime-gpu" in message


def test_a_provider_ort_dropped_at_load_is_refused_not_timed_as_cpu():
    with pytest.raises(BackendUnavailableError, match="could not start CUDAExecutionProvider .* fell back to "
                                                      "CPUExecutionProvider"):
        check_assigned(["CUDAExecutionProvider", "CPUExecutionProvider"], ["CPUExecutionProvider"], "m.onnx")


def test_trace_sums_each_node_over_the_runs_after_the_warmup(tmp_path):
    def node(name, ts, dur, op):
        return {"cat": "Node", "name": f"{name}_kernel_time", "ts": ts, "dur": dur,
                "args": {"op_name": op, "provider": "CPUExecutionProvider", "input_type_shape": [{"uint8": [1]}]}}

    runs = [{"cat": "Session", "name": "model_run", "ts": ts, "dur": 90} for ts in (0, 100, 200)]
    events = [*runs, node("conv", 1, 5000, "QLinearConv"), node("conv", 101, 40, "QLinearConv"),
              node("fc", 150, 10, "MatMul"), node("conv", 201, 60, "QLinearConv")]
    (tmp_path / "trace.json").write_text(json.dumps(events))
    layers, kept = layer_times(tmp_path / "trace.json", skip_runs=1)
    assert kept == 2
    assert {(layer.name, layer.op_type, layer.total_ms, layer.kernel, layer.precision) for layer in layers} == {
        ("conv", "QLinearConv", 0.1, "cpu", "uint8"), ("fc", "MatMul", 0.01, "cpu", "uint8")}


def test_target_options_take_providers_by_any_name():
    assert OnnxRuntimeOptions(providers=["cuda", "CPU"]).providers == ["CUDAExecutionProvider",
                                                                       "CPUExecutionProvider"]
    with pytest.raises(ValidationError, match="unknown execution provider 'tpu'"):
        OnnxRuntimeOptions(providers=["tpu"])


def test_runner_settings_pick_the_providers_and_record_what_ort_assigned(model):
    # A target's options reach the runner as its settings (the benchmark stage passes them).
    options = RunnerOptions(threads=1, settings={"providers": ["cpu"]})
    with load_runtime_backend("onnxruntime").runner(model, options) as runner:
        runner.infer({"x": np.zeros((1, 3, 8, 8), np.float32)})
        assert runner.runtime_info() == {"providers_requested": ["CPUExecutionProvider"],
                                         "providers": ["CPUExecutionProvider"]}


@pytest.mark.skipif("CUDAExecutionProvider" in ort.get_available_providers(), reason="this ORT has CUDA")
def test_a_runner_asked_for_a_missing_provider_fails_before_loading(model):
    options = RunnerOptions(threads=1, settings={"providers": ["cuda"]})
    with pytest.raises(BackendUnavailableError, match="onnxruntime-gpu"):
        load_runtime_backend("onnxruntime").runner(model, options).load()


def test_benchmark_records_the_cpu_provider_in_every_result(model, tmp_path, empty_cwd, capsys):
    out = tmp_path / "results.json"
    assert main(["benchmark", str(model), *QUICK, "--batch-sizes", "1,2", "--provider", "cpu", "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["settings"]["providers"] == ["CPUExecutionProvider"]
    for config in report["results"][0]["configs"]:
        assert config["runtime_info"]["providers_requested"] == ["CPUExecutionProvider"]
        assert config["runtime_info"]["providers"] == ["CPUExecutionProvider"]
        assert "profile" not in config
    assert list(empty_cwd.iterdir()) == []


@pytest.mark.skipif("CUDAExecutionProvider" in ort.get_available_providers(), reason="this ORT has CUDA")
def test_benchmark_on_a_provider_this_runtime_lacks_exits_3_with_one_line(model, empty_cwd, capsys):
    assert main(["benchmark", str(model), *QUICK, "--provider", "cuda,cpu"]) == 3
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "CUDAExecutionProvider is not in this ONNX Runtime (available:" in lines[0]
    assert "cpu" in lines[0] and "onnxruntime-gpu" in lines[0]
    assert captured.out == ""  # nothing was timed


def test_an_unknown_provider_name_is_a_usage_error(model, capsys):
    with pytest.raises(SystemExit) as exited:
        main(["benchmark", str(model), "--provider", "gpu"])
    assert exited.value.code == 2
    assert "unknown execution provider 'gpu'" in capsys.readouterr().err


def test_profile_ranks_the_models_layers_and_keeps_the_trace_beside_the_results(model, tmp_path, empty_cwd,
                                                                                 capsys):
    out = tmp_path / "results.json"
    assert main(["benchmark", str(model), *QUICK, "--profile", "--out", str(out)]) == 0
    (config,) = json.loads(out.read_text())["results"][0]["configs"]
    profile = config["profile"]
    op_types = {layer["op_type"] for layer in profile["layers"]}
    assert {"Conv", "MatMul"} <= op_types <= MODEL_OPS | ORT_LAYOUT_OPS
    assert profile["runs"] == 5 and profile["layer_count"] == len(profile["layers"])
    assert sum(layer["percent"] for layer in profile["layers"]) == pytest.approx(100, abs=0.1)
    assert [layer["total_ms"] for layer in profile["layers"]] == sorted(
        (layer["total_ms"] for layer in profile["layers"]), reverse=True)
    assert all(layer["kernel"] == "cpu" and layer["precision"] for layer in profile["layers"])
    # every layer in exactly one op-type group, the groups' shares adding up to all layer time
    assert sum(group["layers"] for group in profile["op_types"]) == profile["layer_count"]
    assert sum(group["percent"] for group in profile["op_types"]) == pytest.approx(100, abs=0.1)
    assert {"Conv", "MatMul"} <= {group["op_type"] for group in profile["op_types"]}
    trace = tmp_path / "results-profiles" / "1-tiny.onnx" / "b1-t1.ort-profile.json"
    assert profile["trace"] == str(trace) and trace.is_file()
    table = capsys.readouterr().out
    assert f"top {len(profile['layers'])} of {profile['layer_count']} layers over 5 runs" in table
    assert "Conv" in table and "MatMul" in table and "by op type (layers): " in table
    assert list(empty_cwd.iterdir()) == []


def test_profile_without_out_writes_nothing_that_stays(model, empty_cwd, capsys):
    assert main(["benchmark", str(model), *QUICK, "--profile", "--profile-top", "2"]) == 0
    table = capsys.readouterr().out
    assert "top 2 of" in table and "(the other layers)" in table and "trace:" not in table
    assert list(empty_cwd.iterdir()) == []
