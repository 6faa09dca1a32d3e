"""`edge-pipeline init` writes a starter recipe that runs: from a factory file (one forward pass names
the outputs) or an ONNX file (inputs, dtypes and dynamic dims read from the graph); it never
overwrites a file."""

import json

import numpy as np
import pytest
import yaml

from edge_pipeline import api
from edge_pipeline.cli.main import main
from edge_pipeline.config.recipes import load_recipe

FACTORY = """
from edge_pipeline.testing.tiny import tiny_residual_net


def build():
    return tiny_residual_net(width=4)
"""


@pytest.fixture
def user_folder(tmp_path, monkeypatch):
    (tmp_path / "mymodel.py").write_text(FACTORY)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_init_from_a_factory_then_run(user_folder, capsys):
    code = main(["init", "--factory", "mymodel.py:build", "--input-shape", "1,3,8,8", "--input-name", "x",
                 "--out", "recipes/recipe.yaml"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    recipe_path = user_folder / "recipes" / "recipe.yaml"
    assert captured.out.strip() == "recipes/recipe.yaml"  # stdout: the result only
    text = recipe_path.read_text()
    assert "REPLACE" in text and "RANDOM" in text
    written = yaml.safe_load(text)
    assert written["model"] == {"name": "build", "factory": "../mymodel.py:build"}  # relative to the recipe
    assert written["inputs"] == [{"name": "x", "shape": [1, 3, 8, 8], "dtype": "float32"}]
    assert written["outputs"] == ["output"] and "x86-cpu-onnxruntime" in written["targets"]
    stub = np.load(user_folder / "recipes" / "recipe.calibration.npz")
    assert stub["x"].shape == (32, 3, 8, 8) and stub["x"].dtype == np.float32

    bundle = api.run(recipe_path, out=user_folder / "bundle",
                     overrides=["stages=[export,quantize]", "targets=[x86-cpu-onnxruntime]"])
    manifest = json.loads((bundle / "manifest.json").read_text())
    ids = {a["id"] for a in manifest["artifacts"]}
    assert "build/onnx/fp32" in ids and any(i.startswith("build/x86-cpu-onnxruntime/") for i in ids)
    assert not any(i.startswith("teacher/") for i in ids)


def test_init_never_overwrites(user_folder, capsys):
    (user_folder / "recipe.yaml").write_text("mine\n")
    code = main(["init", "--factory", "mymodel.py:build", "--input-shape", "1,3,8,8"])
    err = capsys.readouterr().err.strip()
    assert code == 9 and err.count("\n") == 0 and "recipe.yaml" in err and "never overwrites" in err
    assert (user_folder / "recipe.yaml").read_text() == "mine\n"
    assert not (user_folder / "recipe.calibration.npz").exists()


def test_init_names_the_bad_shape(user_folder, capsys):
    code = main(["init", "--factory", "mymodel.py:build", "--input-shape", "1,5,8,8"])
    err = capsys.readouterr().err
    assert code == 2 and "--input-shape" in err and "build" in err
    assert not (user_folder / "recipe.yaml").exists()


def test_init_from_onnx_marks_dynamic_dims(user_folder, capsys):
    from edge_pipeline.testing.kit import write_opset12_constant_cnn

    write_opset12_constant_cnn(user_folder / "cnn12.onnx")
    code = main(["init", "--onnx", "cnn12.onnx", "--out", "onnx.yaml"])
    assert code == 0, capsys.readouterr().err
    text = (user_folder / "onnx.yaml").read_text()
    assert text.count("CONFIRM: axis") == 2  # H and W are dynamic in the file
    recipe = load_recipe(user_folder / "onnx.yaml")
    assert recipe.model.lineage == "cnn12" and recipe.model.onnx == user_folder / "cnn12.onnx"
    (spec,) = recipe.input_specs
    assert spec.name == "pixels" and spec.shape[2:] == [224, 224] and set(spec.dynamic_axes) == {2, 3}
    stub = np.load(user_folder / "onnx.calibration.npz")
    assert stub["pixels"].shape == (32, 3, 224, 224)
