"""OpenVINO backend: IR conversion, explicit runtime precision, NNCF INT8, ignored scope, bad input.

Real openvino and nncf on tiny models made here; accuracy control lives in test_openvino_accuracy.py.
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from edge_pipeline.backends.base import RunnerOptions
from edge_pipeline.backends.registry import get_backend, probe
from edge_pipeline.calibration.dataset import ArrayDataset
from edge_pipeline.config.recipes import load_target
from edge_pipeline.config.schema import ExportConfig, InputSpec, QuantizeConfig
from edge_pipeline.errors import ConfigError, DataError, EdgePipelineError, StageError

pytestmark = [
    pytest.mark.openvino,
    pytest.mark.skipif(not probe("openvino")[0], reason="openvino/nncf not installed"),
]


@pytest.fixture(scope="module")
def tiny_onnx(tmp_path_factory):
    from edge_pipeline.modeling.onnx_export import export_onnx
    from edge_pipeline.testing.tiny import labelled_arrays, tiny_residual_net

    out = tmp_path_factory.mktemp("ov") / "tiny.onnx"
    export_onnx(tiny_residual_net(), InputSpec(shape=[1, 3, 8, 8]), ExportConfig(), out, labelled_arrays(8)[0])
    return out


@pytest.fixture(scope="module")
def calib():
    from edge_pipeline.testing.tiny import labelled_arrays

    x, y = labelled_arrays(64, seed=3)
    return ArrayDataset(x, y, "memory", "calib")


@pytest.fixture(scope="module")
def backend():
    return get_backend("openvino")


@pytest.fixture(scope="module")
def target():
    return load_target("x86-cpu-openvino")


def with_options(target, **options):
    changed = target.model_copy(deep=True)
    changed.options = {**target.options, **options}
    return changed


@pytest.fixture(scope="module")
def fp32_ir(backend, target, tiny_onnx, tmp_path_factory):
    return backend.prepare_fp32(tiny_onnx, target, tmp_path_factory.mktemp("fp32"))[0]


@pytest.fixture(scope="module")
def int8_ir(backend, target, tiny_onnx, calib, tmp_path_factory):
    config = QuantizeConfig(samples=32)
    return backend.quantize(tiny_onnx, calib, config, target, tmp_path_factory.mktemp("int8"))[0]


def run(backend, path, variant, x, target, threads=1):
    with backend.runner(path, RunnerOptions(threads=threads, variant=variant, settings=target.options)) as runner:
        return list(runner.infer({"input": x}).values())[0], runner.runtime_info()


def ort_reference(onnx_path, x):
    with get_backend("onnxruntime").runner(onnx_path, RunnerOptions(threads=1)) as runner:
        return list(runner.infer({"input": x}).values())[0]


def test_fp32_ir_keeps_fp32_weights_and_runs_in_f32(backend, target, fp32_ir, tiny_onnx, calib):
    assert fp32_ir.kind == "openvino-ir" and fp32_ir.precision == "fp32"
    assert fp32_ir.meta["weights_precision"] == "fp32"
    out, info = run(backend, fp32_ir.path, "f32", calib.inputs[:4], target)
    np.testing.assert_allclose(out, ort_reference(tiny_onnx, calib.inputs[:4]), atol=1e-4)
    assert info["inference_precision"] == "f32"
    assert set(info["compute_layer_precisions"]) == {"f32"}
    # The kernel each compute layer ran (the ISA path), one per layer: e.g. brgconv_avx2_f32.
    assert sum(info["compute_layer_kernels"].values()) == sum(info["compute_layer_precisions"].values())
    assert all(kernel.lower().endswith("f32") for kernel in info["compute_layer_kernels"])
    assert info["performance_hint"] == "LATENCY" and info["num_streams"] == 1 and info["inference_num_threads"] == 1


def test_runner_sees_new_arrays_and_in_place_changes(backend, target, fp32_ir, tiny_onnx, calib):
    x = calib.inputs[:2].copy()
    with backend.runner(fp32_ir.path, RunnerOptions(threads=1, variant="f32", settings=target.options)) as runner:
        first = list(runner.infer({"input": x}).values())[0]
        x[:] = calib.inputs[2:4]  # same array, new content: shared memory must see it
        second = list(runner.infer({"input": x}).values())[0]
        third = list(runner.infer({"input": calib.inputs[4:7]}).values())[0]  # another array and batch size
    reference = ort_reference(tiny_onnx, calib.inputs[:7])
    np.testing.assert_allclose(np.concatenate([first, second, third]), reference, atol=1e-4)


def test_prepared_call_is_the_bound_request(backend, target, fp32_ir, calib):
    """The timed call is the infer request itself on inputs bound once, as benchmark_app times it:
    it passes no inputs and copies no outputs (what it returns are views of the request's tensors)."""
    x = calib.inputs[:3]
    with backend.runner(fp32_ir.path, RunnerOptions(threads=1, variant="f32", settings=target.options)) as runner:
        expected = list(runner.infer({"input": x}).values())[0]
        call = runner.prepare({"input": x})
        assert call.func == runner.request.infer and call.args == () and call.keywords == {"share_outputs": True}
        returned = call()
        output = runner.request.get_output_tensor(0).data
        assert np.shares_memory(returned[0], output)
        np.testing.assert_array_equal(output, expected)
        with pytest.raises(EdgePipelineError, match="feed has inputs"):
            runner.prepare({"wrong": x})


def test_compress_to_fp16_halves_the_weights(backend, target, tiny_onnx, fp32_ir, tmp_path):
    compressed = backend.prepare_fp32(tiny_onnx, with_options(target, compress_to_fp16=True), tmp_path)[0]
    assert compressed.meta["weights_precision"] == "fp16"
    full, half = fp32_ir.path.with_suffix(".bin").stat().st_size, compressed.path.with_suffix(".bin").stat().st_size
    assert half < 0.6 * full


def test_runtime_variants_are_explicit_precisions(backend, target, fp32_ir, calib):
    from edge_pipeline.backends.openvino.runner import cpu_supports_bf16

    assert backend.runtime_variants("int8", target) == ["f32"]
    assert backend.runtime_variants("fp32", with_options(target, bf16_variant=False)) == ["f32"]
    if not cpu_supports_bf16():
        assert backend.runtime_variants("fp32", target) == ["f32"]
        return
    assert backend.runtime_variants("fp32", target) == ["f32", "bf16"]
    _, info = run(backend, fp32_ir.path, "bf16", calib.inputs[:2], target)
    assert info["inference_precision"] == "bf16" and "bf16" in info["compute_layer_precisions"]


def test_int8_ir_runs_quantized_layers(backend, target, int8_ir, tiny_onnx, calib):
    assert int8_ir.precision == "int8"
    layers = backend.executed_layers(int8_ir.path, RunnerOptions(threads=1))
    assert layers and {layer.precision for layer in layers} == {"int8"}, layers
    assert int8_ir.meta["preset"] == "performance"
    calibration = int8_ir.meta["calibration"]
    assert {key: calibration[key] for key in ("method", "samples")} == {"method": "minmax", "samples": 32}
    assert calibration["statistics"] == "collected" or calibration["statistics"].startswith("re-used")
    out, info = run(backend, int8_ir.path, "f32", calib.inputs[:8], target)
    assert set(info["compute_layer_precisions"]) <= {"u8", "i8"}
    # The kernels the quantize stage records are those the timed runner compiled (e.g. jit_gemm_i8).
    kernels = {layer.kernel for layer in layers}
    assert kernels == set(info["compute_layer_kernels"]) and "" not in kernels
    reference = ort_reference(tiny_onnx, calib.inputs[:8])
    cosine = (out * reference).sum() / np.linalg.norm(out) / np.linalg.norm(reference)
    assert cosine > 0.99


def test_throughput_hint_splits_a_batch_over_async_requests(backend, target, fp32_ir, tiny_onnx, calib):
    throughput = with_options(target, performance_hint="throughput", num_streams=2)
    out, info = run(backend, fp32_ir.path, "f32", calib.inputs[:8], throughput, threads=2)
    assert info["performance_hint"] == "THROUGHPUT" and info["infer_requests"] >= 2
    np.testing.assert_allclose(out, ort_reference(tiny_onnx, calib.inputs[:8]), atol=1e-4)


def test_ignored_scope_by_onnx_name_and_type(backend, target, tiny_onnx, calib, tmp_path):
    graph = onnx.load(str(tiny_onnx)).graph
    conv = next(n.name for n in graph.node if n.op_type == "Conv")
    config = QuantizeConfig(samples=16, exclude_nodes=[conv], exclude_op_types=["Gemm"])
    produced = backend.quantize(tiny_onnx, calib, config, target, tmp_path)[0]
    floats = [layer for layer in backend.executed_layers(produced.path, RunnerOptions(threads=1))
              if layer.precision == "float"]
    assert conv in {layer.name for layer in floats}, floats
    assert produced.meta["ignored_scope"]["types"] == ["MatMul"]
    assert len(floats) == 2, floats  # the named convolution and the classifier matmul, as the CPU plugin runs them


def test_ignored_scope_name_matching_nothing_is_an_error(backend, target, tiny_onnx, calib, tmp_path):
    with pytest.raises(ConfigError, match="exclude_nodes 'no_such_node' matches no ONNX node or OpenVINO operation"):
        backend.quantize(tiny_onnx, calib, QuantizeConfig(exclude_nodes=["no_such_node"]), target, tmp_path)
    with pytest.raises(ConfigError, match="exclude_op_types 'LSTM'"):
        backend.quantize(tiny_onnx, calib, QuantizeConfig(exclude_op_types=["LSTM"]), target, tmp_path)


def test_entropy_has_no_nncf_equivalent(backend, target, tiny_onnx, calib, tmp_path):
    with pytest.raises(ConfigError, match="'entropy' has no NNCF equivalent"):
        backend.quantize(tiny_onnx, calib, QuantizeConfig(method="entropy"), target, tmp_path)


def test_max_drop_without_labelled_split_is_an_error(backend, target, tiny_onnx, calib, tmp_path):
    config = QuantizeConfig(max_drop=0.5)
    with pytest.raises(DataError, match="needs a labelled evaluation split, found no data.eval"):
        backend.quantize(tiny_onnx, calib, config, target, tmp_path)
    unlabelled = ArrayDataset(calib.inputs, None, "eval.npy", "u")
    with pytest.raises(DataError, match="without labels"):
        backend.quantize(tiny_onnx, calib, config, target, tmp_path, eval_data=unlabelled)


def test_unconvertible_operator_names_the_op_and_node(backend, target, tmp_path):
    x = helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])
    nodes = [
        helper.make_node("Relu", ["input"], ["r"], name="relu"),
        helper.make_node("Frobnicate", ["r"], ["y"], name="frob", domain="com.example"),
    ]
    graph = helper.make_graph(nodes, "bad", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18), helper.make_opsetid("com.example", 1)])
    path = tmp_path / "bad.onnx"
    onnx.save(model, str(path))
    with pytest.raises(StageError,
                       match=r"no conversion rule for operator\(s\) com.example.Frobnicate \(nodes: frob\)"):
        backend.prepare_fp32(path, target, tmp_path / "out")


def test_bad_options_are_config_errors(backend, target):
    with pytest.raises(ConfigError, match="options.preset"):
        backend.runtime_variants("fp32", with_options(target, preset="fastest"))
    with pytest.raises(ConfigError, match="options.num_threads"):
        backend.runtime_variants("fp32", with_options(target, num_threads=4))


def test_ir_bytes_do_not_depend_on_what_the_process_converted_before(backend, target, tiny_onnx, tmp_path):
    """OpenVINO numbers the nodes it creates from a process-wide counter; saved IRs are renumbered,
    so a cold run and a warm one (other conversions first) write the same files."""
    first = backend.prepare_fp32(tiny_onnx, target, tmp_path / "a")[0].path
    for index in range(2):
        backend.prepare_fp32(tiny_onnx, target, tmp_path / f"other{index}")
    again = backend.prepare_fp32(tiny_onnx, target, tmp_path / "b")[0].path
    assert first.read_bytes() == again.read_bytes()
    assert first.with_suffix(".bin").read_bytes() == again.with_suffix(".bin").read_bytes()


def test_statistics_are_collected_once_and_re_used_by_every_attempt_with_other_layers_float(
        backend, target, tiny_onnx, calib, tmp_path):
    """What the fidelity fallback does: the same model quantized again with a layer kept float runs
    no calibration pass; a setting that changes the statistics (the mixed preset) runs one."""
    from edge_pipeline.backends.openvino.statistics import calibration_passes

    config = QuantizeConfig(samples=24)  # a sample count no other test uses: a key of its own
    before = calibration_passes()
    first = backend.quantize(tiny_onnx, calib, config, target, tmp_path / "a")[0]
    conv = next(n.name for n in onnx.load(str(tiny_onnx)).graph.node if n.op_type == "Conv")
    kept = backend.quantize(tiny_onnx, calib, config.model_copy(update={"keep_float": [conv]}), target,
                            tmp_path / "b")[0]
    assert first.meta["calibration"]["statistics"] == "collected"
    assert kept.meta["calibration"]["statistics"].startswith("re-used")
    assert kept.meta["ignored_scope"]["names"]  # the trial did keep its layer float
    assert calibration_passes() - before == 1
    from edge_pipeline.backends.openvino import statistics

    statistics._memo.clear()  # collected afresh, the trial's IR is the same bytes
    fresh = backend.quantize(tiny_onnx, calib, config.model_copy(update={"keep_float": [conv]}), target,
                             tmp_path / "d")[0]
    assert fresh.meta["calibration"]["statistics"] == "collected"
    assert fresh.path.with_suffix(".bin").read_bytes() == kept.path.with_suffix(".bin").read_bytes()
    before = calibration_passes() - 1
    mixed = backend.quantize(tiny_onnx, calib, config, with_options(target, preset="mixed"), tmp_path / "c")[0]
    assert mixed.meta["calibration"]["statistics"] == "collected" and calibration_passes() - before == 2


def test_cnn_strategies_are_nncf_settings_cheapest_first(backend, target, tiny_onnx):
    strategies = backend.fallback_strategies(tiny_onnx, QuantizeConfig(), target)
    assert [s.options or s.config for s in strategies] == [
        {"preset": "mixed"}, {"method": "percentile"}, {"fast_bias_correction": False}]
    already = with_options(target, preset="mixed", fast_bias_correction=False)
    assert [s.config for s in backend.fallback_strategies(tiny_onnx, QuantizeConfig(), already)] == [
        {"method": "percentile"}]
