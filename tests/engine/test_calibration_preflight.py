"""A quantize stage whose calibration cannot fit its memory budget is refused before any stage runs."""

from __future__ import annotations

import numpy as np
import pytest

from edge_pipeline import api
from edge_pipeline.errors import ConfigError
from edge_pipeline.testing.kit import write_opset12_constant_cnn
from tests.conftest import write_recipe

SIDE = 128


def _recipe(tmp_path, budget_mib: int) -> dict:
    write_opset12_constant_cnn(tmp_path / "elsewhere.onnx")
    data = np.random.default_rng(0).standard_normal((4, 3, SIDE, SIDE)).astype(np.float32)
    np.savez(tmp_path / "calibration.npz", x=data)
    return {
        "metadata": {"name": "budget"},
        "model": {"onnx": "elsewhere.onnx"},
        "input": {"name": "pixels", "shape": [1, 3, SIDE, SIDE]},
        "data": {"calibration": {"path": "calibration.npz"}},
        "targets": ["x86-cpu-onnxruntime"],
        "quantize": {"samples": 4, "memory_budget_mib": budget_mib},
    }


def test_a_calibration_over_the_stated_budget_is_refused_before_any_stage(tmp_path):
    recipe = write_recipe(tmp_path / "r.yaml", _recipe(tmp_path, budget_mib=1))
    with pytest.raises(ConfigError) as caught:
        api.run(recipe, tmp_path / "bundle", cache_dir=tmp_path / "cache")
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("target 'x86-cpu-onnxruntime': calibration needs about ")
    assert "and the budget is 1.0 MiB (quantize.memory_budget_mib)" in message
    assert not (tmp_path / "bundle").exists()
    assert not any((tmp_path / "cache").rglob("entry.json"))  # no stage made anything
