"""Models of the kinds users bring, through export -> quantize -> benchmark with fidelity per output:
a BERT-style encoder (int64 ids + attention mask -> embedding) and a two-output detector."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edge_pipeline import api
from edge_pipeline.errors import StageError
from edge_pipeline.testing.kit import (
    AUDIO_SAMPLES,
    SEQUENCE,
    STATE,
    VOCAB,
    audio_arrays,
    detector_arrays,
    encoder_arrays,
)
from tests.conftest import write_recipe

pytestmark = pytest.mark.slow

TARGETS = ["x86-cpu-onnxruntime", "x86-cpu-openvino"]


def _encoder_recipe(tmp_path, **quantize) -> dict:
    for role, seed in (("calibration", 1), ("eval", 2)):
        np.savez(tmp_path / f"{role}.npz", **encoder_arrays(48, seed))
    return _kit_recipe(tmp_path, {
        "metadata": {"name": "tiny-encoder"},
        # One block: two int64 inputs and the additive mask are the point; the exporter's time is per block.
        "model": {"factory": "edge_pipeline.testing.kit:tiny_encoder", "kwargs": {"layers": 1}},
        "inputs": [
            {"name": "input_ids", "shape": [1, SEQUENCE], "dtype": "int64", "value_range": [0, VOCAB]},
            {"name": "attention_mask", "shape": [1, SEQUENCE], "dtype": "int64", "value_range": [0, 2]},
        ],
        "outputs": ["embedding"],
        "class_score_outputs": [],
        "quantize": {"samples": 32, **quantize},
    })


def _kit_recipe(tmp_path, fields: dict) -> dict:
    """A kit model's recipe: its own fields plus the data written to tmp_path, the targets and a short benchmark."""
    return {
        **fields,
        "data": {"calibration": {"path": str(tmp_path / "calibration.npz")},
                 "eval": {"path": str(tmp_path / "eval.npz")}},
        "targets": TARGETS,
        "benchmark": {"warmup": 2, "iterations": 5, "rounds": 1},
    }


def _rows(bundle) -> list[dict]:
    return json.loads((bundle / "report.json").read_text())["results"]


def test_encoder_with_two_int64_inputs_gets_fidelity_per_output(tmp_path):
    recipe = write_recipe(tmp_path / "r.yaml", _encoder_recipe(tmp_path))
    bundle = api.run(recipe, tmp_path / "bundle", cache_dir=tmp_path / "cache")
    rows = _rows(bundle)
    assert {r["target"] for r in rows} == set(TARGETS)
    for row in rows:
        assert set(row["fidelity"]) == {"embedding"}, row["artifact_id"]
        assert row["fidelity"]["embedding"]["top1_agreement"] is None  # an embedding is no classifier
        assert row["accuracy"] is None
    fp32 = [r for r in rows if r["precision"] == "fp32"]
    assert all(r["fidelity"]["embedding"]["cosine"] > 0.9999 for r in fp32)
    manifest = json.loads((bundle / "manifest.json").read_text())
    onnx = next(a for a in manifest["artifacts"] if a["id"] == "teacher/onnx/fp32")
    assert onnx["meta"]["outputs"] == ["embedding"]


def test_two_output_detector_keeps_both_outputs_by_name(tmp_path):
    for role, seed in (("calibration", 1), ("eval", 2)):
        x, y = detector_arrays(48, seed)
        np.savez(tmp_path / f"{role}.npz", x=x, y=y)
    recipe = write_recipe(tmp_path / "r.yaml", _kit_recipe(tmp_path, {
        "metadata": {"name": "detector"},
        "model": {"factory": "edge_pipeline.testing.kit:two_head_detector"},
        "input": {"name": "image", "shape": [1, 3, 16, 16]},
        "class_score_outputs": ["logits"],  # boxes are 2-D floats too, but no class scores
        "quantize": {"samples": 32, "min_cosine": 0.9},
    }))
    bundle = api.run(recipe, tmp_path / "bundle", cache_dir=tmp_path / "cache")
    for row in _rows(bundle):
        assert set(row["fidelity"]) == {"logits", "boxes"}, row["artifact_id"]
        assert row["fidelity"]["logits"]["top1_agreement"] is not None
        assert row["fidelity"]["boxes"]["top1_agreement"] is None
        assert row["accuracy"] is not None  # the first output holds class scores and the data has labels
    int8 = [a for a in json.loads((bundle / "manifest.json").read_text())["artifacts"] if a["precision"] == "int8"]
    assert all(set(a["meta"]["fidelity_check"]) == {"logits", "boxes"} for a in int8)


def test_a_missed_fidelity_floor_fails_the_step_naming_the_output(tmp_path):
    recipe = write_recipe(tmp_path / "r.yaml", _encoder_recipe(tmp_path, min_cosine=0.999999, fallback=False))
    with pytest.raises(StageError, match="output 'embedding' reaches cosine .* below the floor 0.999999"):
        api.run(recipe, tmp_path / "bundle", cache_dir=tmp_path / "cache")
    assert not (tmp_path / "bundle").exists()


def test_token_ids_outside_their_range_are_refused(tmp_path):
    data = _encoder_recipe(tmp_path)
    arrays = encoder_arrays(8, 3)
    arrays["input_ids"][0, 0] = VOCAB + 5
    np.savez(tmp_path / "calibration.npz", **arrays)
    from edge_pipeline.errors import DataError

    with pytest.raises(DataError, match="input 'input_ids' has 1 values outside its value_range"):
        api.run(write_recipe(tmp_path / "r.yaml", data), tmp_path / "bundle", cache_dir=tmp_path / "cache")


def test_audio_model_with_recurrent_state_keeps_both_outputs(tmp_path):
    for role, seed in (("calibration", 1), ("eval", 2)):
        np.savez(tmp_path / f"{role}.npz", **audio_arrays(48, seed))
    recipe = write_recipe(tmp_path / "r.yaml", _kit_recipe(tmp_path, {
        "metadata": {"name": "pitch"},
        "model": {"factory": "edge_pipeline.testing.kit:stateful_pitch_net"},
        "inputs": [{"name": "audio", "shape": [1, 1, AUDIO_SAMPLES]}, {"name": "state", "shape": [1, STATE]}],
        "outputs": ["pitch", "next_state"],
        "class_score_outputs": [],
        "quantize": {"samples": 32},
    }))
    rows = _rows(api.run(recipe, tmp_path / "bundle", cache_dir=tmp_path / "cache"))
    for row in rows:
        assert set(row["fidelity"]) == {"pitch", "next_state"}, row["artifact_id"]
        assert all(f["top1_agreement"] is None for f in row["fidelity"].values())


def test_depthwise_separable_mobilenet_style_cnn(tmp_path):
    rng = np.random.default_rng(0)
    for role in ("calibration", "eval"):
        np.savez(tmp_path / f"{role}.npz", x=rng.standard_normal((48, 3, 16, 16)).astype(np.float32),
                 y=rng.integers(0, 10, 48))
    recipe = write_recipe(tmp_path / "r.yaml", _kit_recipe(tmp_path, {
        "metadata": {"name": "mobilenet-style"},
        # Two stages keep a stride-1 residual and a stride-2 depthwise block; a third only adds export time.
        "model": {"factory": "edge_pipeline.zoo.students:tiny_mobilenet_v2",
                  "kwargs": {"in_channels": 3, "widths": [16, 24]}},
        "input": {"shape": [1, 3, 16, 16]},
        "quantize": {"samples": 32},
    }))
    rows = _rows(api.run(recipe, tmp_path / "bundle", cache_dir=tmp_path / "cache"))
    assert {(r["target"], r["precision"]) for r in rows} >= {(t, p) for t in TARGETS for p in ("fp32", "int8")}
    assert all(set(r["fidelity"]) == {"output"} for r in rows)
