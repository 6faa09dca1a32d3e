"""An ONNX file exported elsewhere as the model: opset 12, dynamic H/W, weights as Constant nodes."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edge_pipeline import api
from edge_pipeline.errors import ConfigError
from edge_pipeline.testing.kit import write_opset12_constant_cnn
from tests.conftest import write_recipe


def _recipe(tmp_path, **changes) -> dict:
    write_opset12_constant_cnn(tmp_path / "elsewhere.onnx")
    rng = np.random.default_rng(0)
    for role in ("calibration", "eval"):
        np.savez(tmp_path / f"{role}.npz", x=rng.standard_normal((40, 3, 24, 24)).astype(np.float32))
    recipe = {
        "metadata": {"name": "from-elsewhere"},
        "model": {"onnx": "elsewhere.onnx"},
        "input": {"name": "pixels", "shape": [1, 3, 24, 24]},
        "data": {"calibration": {"path": "calibration.npz"}, "eval": {"path": "eval.npz"}},
        "targets": ["x86-cpu-onnxruntime", "x86-cpu-openvino"],
        "quantize": {"samples": 32},
        "benchmark": {"warmup": 2, "iterations": 5, "rounds": 1},
    }
    recipe.update(changes)
    return recipe


def test_opset12_file_with_dynamic_hw_and_constant_weights_runs_through(tmp_path):
    bundle = api.run(write_recipe(tmp_path / "r.yaml", _recipe(tmp_path)), tmp_path / "bundle",
                     cache_dir=tmp_path / "cache")
    manifest = json.loads((bundle / "manifest.json").read_text())
    fp32 = next(a for a in manifest["artifacts"] if a["id"] == "teacher/onnx/fp32")
    assert fp32["meta"]["source_opset"] == 12 and fp32["meta"]["converted_to_opset"] >= 13
    assert fp32["meta"]["fixed_dims"]["pixels"] == [{"axis": 2, "was": "H", "now": 24},
                                                    {"axis": 3, "was": "W", "now": 24}]
    assert fp32["size_bytes"] < 16 * 1024  # the dead 256 KiB Constant did not survive the folding
    assert fp32["meta"]["fold"]["bytes_after"] < fp32["meta"]["fold"]["bytes_before"]
    rows = json.loads((bundle / "report.json").read_text())["results"]
    assert {r["precision"] for r in rows} == {"fp32", "int8"}
    assert all(set(r["fidelity"]) == {"scores"} for r in rows)


def test_a_recipe_input_the_file_does_not_take_is_named(tmp_path):
    recipe = _recipe(tmp_path, input={"name": "image", "shape": [1, 3, 24, 24]})
    with pytest.raises(ConfigError, match=r"takes inputs \['pixels'\]; the recipe lists \['image'\]"):
        api.run(write_recipe(tmp_path / "r.yaml", recipe), tmp_path / "bundle", cache_dir=tmp_path / "cache")


def test_quantize_command_prepares_an_onnx_file_from_elsewhere(tmp_path, capsys):
    """The single-stage command takes the same ONNX-in path: --input-shape fixes H and W, the opset-12
    file is converted, its Constant weights folded, and the INT8 artifact runs before it counts."""
    from edge_pipeline.cli.main import main
    from edge_pipeline.testing.kit import write_opset12_constant_cnn

    source = tmp_path / "elsewhere.onnx"
    write_opset12_constant_cnn(source)
    pixels = np.random.default_rng(0).standard_normal((16, 3, 20, 24)).astype(np.float32)
    np.savez(tmp_path / "calib.npz", pixels=pixels)
    out = tmp_path / "q"
    args = ["quantize", str(source), "--calibration", str(tmp_path / "calib.npz"), "--out", str(out)]
    assert main(args) != 0 and "give them with --input-shape pixels=1,3,N,N" in capsys.readouterr().err
    assert not out.exists()
    assert main([*args, "--input-shape", "pixels=1,3,20,24"]) == 0
    record = json.loads((out / "quantize.json").read_text())
    assert record["preparation"]["converted_to_opset"] >= 13
    assert record["inputs"][0]["shape"] == [1, 3, 20, 24]
    int8 = record["artifacts"][0]
    assert int8["fidelity_check"]["scores"]["cosine"] > 0.99
    assert (out / int8["path"]).stat().st_size < source.stat().st_size, "dead Constant weights folded"
