"""ORT Mobile targets: S8S8 QDQ, .ort conversion (both optimization styles), the reduced-build
operator config and the EP usability summary, all from the backend's quantize."""

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from edge_pipeline.backends.base import RunnerOptions
from edge_pipeline.backends.registry import get_backend
from edge_pipeline.calibration.dataset import ArrayDataset
from edge_pipeline.config.recipes import load_target
from edge_pipeline.config.schema import ExportConfig, InputSpec
from edge_pipeline.errors import ConfigError, StageError
from edge_pipeline.modeling.onnx_export import export_onnx
from edge_pipeline.testing.tiny import labelled_arrays, tiny_residual_net

MOBILE_TARGETS = ("android-arm64-onnxruntime", "ios-arm64-onnxruntime")


@pytest.fixture(scope="module")
def fp32_onnx(tmp_path_factory):
    out = tmp_path_factory.mktemp("ort-mobile") / "tiny.onnx"
    export_onnx(tiny_residual_net(), InputSpec(shape=[1, 3, 8, 8]), ExportConfig(), out, labelled_arrays(8)[0])
    return out


@pytest.fixture(scope="module")
def android(fp32_onnx, tmp_path_factory):
    x, y = labelled_arrays(64, seed=3)
    target = load_target("android-arm64-onnxruntime")
    out = tmp_path_factory.mktemp("android")
    produced = get_backend("onnxruntime").quantize(fp32_onnx, ArrayDataset(x, y, "memory", "t"), target.quantize,
                                                   target, out)
    return {p.variant: p for p in produced}


@pytest.mark.parametrize("name", MOBILE_TARGETS)
def test_mobile_targets_are_arm_s8s8_per_channel(name):
    target = load_target(name)
    assert target.device.arch == "arm64" and target.backend == "onnxruntime"
    q = target.quantize
    assert (q.activation_type, q.symmetric_activations, q.per_channel) == ("int8", True, True)
    assert "ort_mobile" in target.options


def test_quantize_writes_every_mobile_artifact(android):
    assert set(android) == {
        "default", "ort-fixed", "ort-runtime", "required-operators-fixed", "required-operators-runtime", "ep-usability",
    }
    assert android["default"].path.suffix == ".onnx" and android["default"].meta["activation_type"] == "int8"
    assert android["ort-runtime"].path.name.endswith(".with_runtime_opt.ort")
    config = android["required-operators-fixed"].path.read_text()
    assert "ai.onnx;" in config and "QuantizeLinear" in config  # a reduced build keeps the QDQ boundary ops
    assert "# - model.int8.ort" in config and "/tmp" not in config and "cache" not in config, "no local paths"
    summary = json.loads(android["ep-usability"].path.read_text())
    assert set(summary["execution_providers"]) == {"nnapi", "xnnpack", "coreml"}
    for verdict in summary["execution_providers"].values():
        assert verdict["usable"] in ("yes", "maybe", "no") and verdict["nodes"] > 0
    assert android["ep-usability"].meta["usable_execution_providers"] == [
        name for name, v in summary["execution_providers"].items() if v["usable"] != "no"
    ]


def _outputs(path, inputs, **session):
    so = ort.SessionOptions()
    for key, value in session.get("config", {}).items():
        so.add_session_config_entry(key, value)
    sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"],
                                disabled_optimizers=session.get("disabled", []))
    name = sess.get_inputs()[0].name
    return np.concatenate([sess.run(None, {name: x[None]})[0] for x in inputs])


def test_ort_models_give_the_qdq_onnx_outputs(android):
    """Bit-exact against the QDQ ONNX run with the conversion's settings (ARM's int8 QDQ fusions,
    no x86 NCHWc), which is how ORT runs it on the device; same argmax under this host's defaults."""
    inputs = labelled_arrays(16, seed=9)[0]
    qdq = android["default"].path
    on_device_settings = _outputs(qdq, inputs, config={"session.qdqisint8allowed": "1"}, disabled=["NchwcTransformer"])
    host_default = _outputs(qdq, inputs)
    backend = get_backend("onnxruntime")
    for variant in ("ort-fixed", "ort-runtime"):
        with backend.runner(android[variant].path, RunnerOptions(threads=1)) as runner:
            assert runner.fixed_batch() == 1
            got = np.concatenate([list(runner.infer({runner.inputs[0].name: x[None]}).values())[0] for x in inputs])
        np.testing.assert_array_equal(got, on_device_settings)
        assert (got.argmax(1) == host_default.argmax(1)).mean() >= 0.9


def test_source_qdq_onnx_is_left_dynamic(android):
    """The batch is fixed only in the copy that is converted; the bundle's QDQ ONNX is untouched."""
    dim = onnx.load(str(android["default"].path)).graph.input[0].type.tensor_type.shape.dim[0]
    assert not dim.HasField("dim_value")


def test_unknown_mobile_option_is_a_clear_error(fp32_onnx, tmp_path):
    target = load_target("android-arm64-onnxruntime")
    bad = target.model_copy(update={"options": {"ort_mobile": {"optimisation_styles": ["fixed"]}}})
    x, y = labelled_arrays(8)
    with pytest.raises(ConfigError, match="unknown key 'ort_mobile.optimisation_styles'"):
        get_backend("onnxruntime").quantize(fp32_onnx, ArrayDataset(x, y, "m", "t"), target.quantize, bad, tmp_path)
    assert not list(tmp_path.iterdir()), "options are checked before calibration writes anything"


def test_unknown_backend_option_names_the_allowed_key(fp32_onnx, tmp_path):
    target = load_target("android-arm64-onnxruntime")
    bad = target.model_copy(update={"options": {"ort_mobil": {}}})
    x, y = labelled_arrays(8)
    with pytest.raises(ConfigError, match=r"unknown key 'ort_mobil'.*onnxruntime options are: ort_mobile"):
        get_backend("onnxruntime").quantize(fp32_onnx, ArrayDataset(x, y, "m", "t"), target.quantize, bad, tmp_path)


def test_mobile_options_round_trip_through_json():
    from edge_pipeline.backends.onnxruntime.mobile import OrtMobileOptions

    options = OrtMobileOptions(optimization_styles=["runtime"], fixed_batch_size=None, execution_providers=["xnnpack"])
    assert OrtMobileOptions.model_validate_json(options.model_dump_json()) == options


def _matmul_onnx(path):
    """One weighted MatMul: the QDQ fusion ORT 1.32 saves for replay and then cannot replay."""
    weight = onnx.numpy_helper.from_array(np.random.default_rng(0).standard_normal((8, 8)).astype(np.float32), "w")
    graph = onnx.helper.make_graph(
        [onnx.helper.make_node("MatMul", ["input", "w"], ["output"])], "mm",
        [onnx.helper.make_tensor_value_info("input", onnx.TensorProto.FLOAT, [1, 8])],
        [onnx.helper.make_tensor_value_info("output", onnx.TensorProto.FLOAT, [1, 8])], [weight])
    model = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 18)])
    model.ir_version = 9
    onnx.save(model, path)
    return path


def _quantize_for_android(source, out, styles):
    target = load_target("android-arm64-onnxruntime")
    target = target.model_copy(update={"options": {"ort_mobile": {**target.options["ort_mobile"],
                                                                  "optimization_styles": styles}}})
    data = ArrayDataset(np.random.default_rng(1).standard_normal((16, 8)).astype(np.float32), None, "memory", "m")
    return get_backend("onnxruntime").quantize(source, data, target.quantize, target, out)


def test_an_ort_model_that_does_not_load_is_not_shipped(tmp_path):
    produced = {p.variant: p for p in _quantize_for_android(_matmul_onnx(tmp_path / "mm.onnx"), tmp_path / "q",
                                                          ["fixed", "runtime"])}
    assert "ort-fixed" in produced and "ort-runtime" not in produced
    assert "required-operators-runtime" not in produced
    assert not list((tmp_path / "q" / "ort").glob("*with_runtime_opt*")), "no file that looks finished is left"
    reason = produced["ep-usability"].meta["styles_not_shipped"]["runtime"]
    assert "runtime optimization record" in reason
    ort.InferenceSession(str(produced["ort-fixed"].path), providers=["CPUExecutionProvider"])


def test_no_loadable_ort_model_fails_the_step(tmp_path):
    with pytest.raises(StageError, match="no ORT-format model of .* loads"):
        _quantize_for_android(_matmul_onnx(tmp_path / "mm.onnx"), tmp_path / "q", ["runtime"])
