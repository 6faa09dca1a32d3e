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


STATEFUL = """
import torch
from torch import nn


class Named(nn.Module):
    '''One GRU layer: h is (1, B, 4), so its axes 0 and 1 are both sized as the batch at batch 1.'''

    def __init__(self):
        super().__init__()
        self.gru = nn.GRU(8, 4)

    def forward(self, x, h):
        out, h_n = self.gru(x[None], h)
        return {"prob": torch.sigmoid(out[0].sum(-1, keepdim=True)), "h_n": h_n}


class Positional(Named):
    def forward(self, x, h):
        named = super().forward(x, h)
        return named["prob"], named["h_n"]


class OneAtATime(Named):
    def forward(self, x, h):
        if x.shape[0] != 1:
            raise ValueError("this model takes one sample a call")
        return super().forward(x, h)


def named():
    return Named()


def positional():
    return Positional()


def one_at_a_time():
    return OneAtATime()
"""


def _init(folder, factory: str) -> tuple[str, dict]:
    (folder / "stateful.py").write_text(STATEFUL)
    code = main(["init", "--factory", f"stateful.py:{factory}", "--input-shape", "x=1,8", "--input-shape", "h=1,1,4",
                 "--out", f"{factory}.yaml"])
    assert code == 0
    text = (folder / f"{factory}.yaml").read_text()
    return text, yaml.safe_load(text)


@pytest.mark.parametrize(("factory", "pair"), [("named", "h_n: h"), ("positional", "output_1: h")])
def test_init_finds_batch_axes_and_suggests_state_pairs(user_folder, capsys, factory, pair):
    """A second forward pass at batch 2 puts h's batch on axis 1 (axis 0 is refused by the GRU); the
    output shaped like h is suggested as its state, by name (h -> h_n) or by shape alone."""
    text, recipe = _init(user_folder, factory)
    x, h = recipe["inputs"]
    assert "batch_axis" not in x and h["batch_axis"] == 1 and "CONFIRM: batch on axis 1" in text
    state_output = pair.split(":")[0]
    assert recipe["output_batch_axes"] == {state_output: 1}
    assert "state" not in recipe and f"# state: {{{pair}}}" in text and "CONFIRM: outputs shaped like an input" in text
    stub = np.load(user_folder / f"{factory}.calibration.npz")
    assert stub["h"].shape == (1, len(stub["x"]), 4)
    confirmed = user_folder / f"{factory}-confirmed.yaml"
    confirmed.write_text(text.replace("# state: ", "state: "))
    assert load_recipe(confirmed).state == {state_output: "h"}


def test_init_keeps_axis_0_where_the_factory_takes_no_other_batch(user_folder, capsys):
    text, recipe = _init(user_folder, "one_at_a_time")
    assert all("batch_axis" not in spec for spec in recipe["inputs"]) and "output_batch_axes" not in recipe
    assert "# state: {h_n: h}" in text  # the pair is read from the one pass at the given shapes
    load_recipe(user_folder / "one_at_a_time.yaml")
