"""Messages that name the thing and the fix: the missing input of a multi-input .npz, a repeated
output name, a model without inputs, an external .data file that is missing, and `init`'s next
command quoted for the shell; and an opset-7 model (initializers not listed as inputs) converts."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from edge_pipeline.errors import ConfigError, DataError, ModelLoadError
from tests.conftest import tiny_recipe_dict, write_recipe
from tests.faults.harness import assert_one_line_error, run_cli, snapshot


def conv_onnx(path: Path, opset: int = 18, ir_version: int | None = None, external: bool = False) -> Path:
    """A Conv taking 'input' [N, 3, 8, 8] whose weight 'w' is an initializer not listed as an input."""
    weight = numpy_helper.from_array(np.random.default_rng(0).random((4, 3, 3, 3)).astype(np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("Conv", ["input", "w"], ["output"], pads=[1, 1, 1, 1], name="conv")], "g",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, 8, 8])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", 4, 8, 8])], [weight])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    if ir_version is not None:
        model.ir_version = ir_version
    onnx.save(model, str(path), save_as_external_data=external, location=f"{path.name}.data", size_threshold=0)
    return path


def no_input_onnx(path: Path) -> Path:
    constant = numpy_helper.from_array(np.ones((1, 4), np.float32))
    graph = helper.make_graph([helper.make_node("Constant", [], ["output"], value=constant)], "g", [],
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 4])])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), str(path))
    return path


def two_input_onnx(path: Path) -> Path:
    graph = helper.make_graph([helper.make_node("Add", ["a", "b"], ["sum"])], "g",
                              [helper.make_tensor_value_info(name, TensorProto.FLOAT, ["N", 4]) for name in "ab"],
                              [helper.make_tensor_value_info("sum", TensorProto.FLOAT, ["N", 4])])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), str(path))
    return path


def test_npz_missing_one_of_several_inputs_names_it(tmp_path, capsys):
    model = two_input_onnx(tmp_path / "two.onnx")
    np.savez(tmp_path / "calib.npz", a=np.zeros((8, 4), np.float32))
    before = snapshot(tmp_path)
    code, _, err = run_cli(capsys, "quantize", model, "--calibration", tmp_path / "calib.npz",
                           "--out", tmp_path / "out")
    assert_one_line_error(code, err, DataError.exit_code, "calib.npz", "has no array for the model input 'b'",
                          "['a']", "one array per model input name")
    assert snapshot(tmp_path) == before


def test_a_repeated_output_name_is_refused_at_load(tmp_path, tiny_data, capsys):
    recipe = write_recipe(tmp_path / "r.yaml", tiny_recipe_dict(tiny_data, outputs=["pitch", "pitch"]))
    code, _, err = run_cli(capsys, "run", recipe, "--out", tmp_path / "out", "--cache-dir", tmp_path / "cache")
    assert_one_line_error(code, err, ConfigError.exit_code, "r.yaml", "outputs", "pitch")
    assert "checker" not in err and not (tmp_path / "out").exists() and not (tmp_path / "cache").exists()


def test_an_opset_7_model_converts(tmp_path, tiny_data, capsys):
    """IR 3, weights as initializers only: onnx's converter alone says "Input w is undefined"."""
    model = conv_onnx(tmp_path / "old.onnx", opset=7, ir_version=3)
    recipe = write_recipe(tmp_path / "r.yaml", tiny_recipe_dict(
        tiny_data, model={"onnx": str(model)}, stages=["export"], input={"name": "input", "shape": [1, 3, 8, 8]}))
    before = model.read_bytes()
    code, out, err = run_cli(capsys, "run", recipe, "--out", tmp_path / "out", "--cache-dir", tmp_path / "cache")
    assert code == 0, err
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    (artifact,) = [a for a in manifest["artifacts"] if a["path"].endswith(".onnx")]
    converted = onnx.load(str(tmp_path / "out" / artifact["path"]))
    assert max(o.version for o in converted.opset_import if o.domain in ("", "ai.onnx")) >= 13
    assert [i.name for i in converted.graph.input] == ["input"]  # the weight is not an overridable input
    assert model.read_bytes() == before


def test_a_model_without_inputs_says_so(tmp_path, tiny_data, capsys):
    model = no_input_onnx(tmp_path / "const.onnx")
    code, _, err = run_cli(capsys, "init", "--onnx", model, "--out", tmp_path / "new" / "r.yaml")
    assert_one_line_error(code, err, ConfigError.exit_code, "const.onnx", "the model has no inputs", "re-export")
    assert "please report" not in err and not (tmp_path / "new").exists()
    recipe = write_recipe(tmp_path / "r.yaml", tiny_recipe_dict(tiny_data, model={"onnx": str(model)},
                                                                stages=["export"]))
    code, _, err = run_cli(capsys, "run", recipe, "--out", tmp_path / "out", "--cache-dir", tmp_path / "cache")
    assert_one_line_error(code, err, ConfigError.exit_code, "const.onnx", "the model has no inputs")


def test_benchmark_names_the_missing_external_data_file(tmp_path, capsys):
    model = conv_onnx(tmp_path / "big.onnx", external=True)
    Path(f"{model}.data").unlink()
    code, _, err = run_cli(capsys, "benchmark", model, "--iterations", "2", "--warmup", "1")
    assert_one_line_error(code, err, ModelLoadError.exit_code, "big.onnx", "big.onnx.data", "missing",
                          "copy it beside the .onnx file")


def test_init_next_command_is_quoted_for_the_shell(tmp_path, capsys):
    model = conv_onnx(tmp_path / "m.onnx")
    out = tmp_path / "my models" / "it's.yaml"
    code, _, err = run_cli(capsys, "init", "--onnx", model, "--out", out)
    assert code == 0, err
    (line,) = [line for line in err.splitlines() if "next: " in line]
    command = line.split("next: ", 1)[1]
    assert shlex.split(command) == ["edge-pipeline", "run", str(out), "--out", "bundle"]
