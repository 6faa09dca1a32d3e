"""Architectures nobody on the project designed, through export -> INT8 -> fidelity per output on
ONNX Runtime, OpenVINO and TensorRT's Q/DQ model: a Hugging Face BertModel (ids + mask, Shape/Cast
and bool arithmetic in its mask path) and torch.nn.TransformerEncoder with a bool padding mask."""

from __future__ import annotations

import json

import pytest

from edge_pipeline import api
from edge_pipeline.testing.public_kit import public_kit_recipe
from tests.conftest import write_recipe

TARGETS = ["x86-cpu-onnxruntime", "x86-cpu-openvino", "x86-gpu-tensorrt"]

pytest.importorskip("transformers")


def _int8(bundle) -> dict[str, dict]:
    manifest = json.loads((bundle / "manifest.json").read_text())
    return {a["target"]: a for a in manifest["artifacts"]
            if a["precision"] == "int8" and a["kind"] in ("onnx", "openvino-ir")}


@pytest.mark.slow
@pytest.mark.parametrize("model", ["hf-bert", "torch-transformer"])
def test_transformers_users_write_meet_the_floor_on_every_backend(tmp_path, model):
    recipe = public_kit_recipe(model, tmp_path / "data", samples=24)
    recipe.update(targets=TARGETS, stages=["export", "quantize"])
    recipe["quantize"]["samples"] = 16
    bundle = api.run(write_recipe(tmp_path / "r.yaml", recipe), tmp_path / "bundle", cache_dir=tmp_path / "cache")
    artifacts = _int8(bundle)
    assert set(artifacts) == set(TARGETS)
    for target, artifact in artifacts.items():
        check = artifact["meta"]["fidelity_check"]
        assert set(check) == set(recipe["outputs"]), target
        assert all(figures["cosine"] >= 0.99 for figures in check.values()), (target, check)
        # The per-layer view ran on the real graph (int64 shapes, bool masks) instead of failing.
        assert artifact["meta"].get("divergence"), (target, artifact["meta"].get("divergence_skipped"))
