"""Latency-aware placement on the real runtimes: after INT8 meets the floor, ONNX Runtime's session
profiler and OpenVINO's performance counters time the tiny CNN's FP32 and INT8 artifacts per compute
layer, and each figure lands in the INT8 artifact's meta. Which layers count as slower is forced here
(a margin every INT8 layer exceeds), never read from measured speed, so the mixed artifact is always
made: it keeps them float, records why with both figures, still meets the floor, is timed by the
benchmark beside the full INT8 and is a candidate for the recommendation."""

from __future__ import annotations

import json

import pytest

from edge_pipeline import api
from edge_pipeline.backends.registry import probe
from edge_pipeline.fidelity import placement
from tests.conftest import tiny_recipe_dict, write_recipe

pytestmark = [pytest.mark.slow, pytest.mark.openvino,
              pytest.mark.skipif(not probe("openvino")[0], reason="openvino/nncf not installed")]

TARGETS = ["x86-cpu-onnxruntime", "x86-cpu-openvino"]
FLOOR = 0.99
COMPUTE_LAYERS = 3  # the tiny net's stem and residual convolutions and its linear head


@pytest.fixture
def bundle(tmp_path, tiny_data, monkeypatch):
    monkeypatch.setattr(placement, "SPEED_MARGIN", -1.0)  # every INT8 layer counts as slower: deterministic
    monkeypatch.setattr(placement, "MIN_PREDICTED_GAIN", float("-inf"))  # and worth a mixed artifact
    monkeypatch.setattr(placement, "MIXED_MUST_BEAT", float("-inf"))  # which is kept however it times whole
    recipe = tiny_recipe_dict(tiny_data, targets=TARGETS, stages=["export", "quantize", "benchmark"])
    recipe["quantize"].update(min_cosine=FLOOR, placement="speed")
    recipe["benchmark"].update(rounds=1)
    return api.run(write_recipe(tmp_path / "r.yaml", recipe), tmp_path / "bundle", cache_dir=tmp_path / "cache")


def test_placement_times_every_compute_layer_and_ships_a_mixed_artifact_that_meets_the_floor(bundle):
    artifacts = {a["id"]: a for a in json.loads((bundle / "manifest.json").read_text())["artifacts"]}
    for target in TARGETS:
        full, mixed = artifacts[f"teacher/{target}/int8"], artifacts[f"teacher/{target}/int8-mixed"]
        times = full["meta"]["layer_times"]
        assert len(times) == COMPUTE_LAYERS, (target, times)
        assert all(row["int8_ms"] > 0 and row["fp32_ms"] > 0 for row in times), (target, times)
        assert "own profiler" in full["meta"]["placement_search"]["timing"]
        kept = mixed["meta"]["placement"]
        assert {row["node"] for row in kept} == {row["node"] for row in times}, target
        assert all(row["reason"] == "speed" and row["int8_ms"] > 0 and row["fp32_ms"] > 0 for row in kept)
        assert min(f["cosine"] for f in mixed["meta"]["fidelity_check"].values()) >= FLOOR, target
    report = json.loads((bundle / "report.json").read_text())
    timed = {row["artifact_id"] for row in report["results"]}
    assert {f"teacher/{target}/int8-mixed" for target in TARGETS} <= timed
    for target in TARGETS:
        labels = {c["label"] for c in report["recommended"][target]["candidates"]}
        assert "mixed INT8" in labels, (target, labels)
    markdown = (bundle / "report.md").read_text()
    assert "## Kept float, and why" in markdown and "speed" in markdown


def test_placement_off_makes_only_the_full_int8(tmp_path, tiny_data):
    recipe = tiny_recipe_dict(tiny_data, targets=TARGETS[:1], stages=["export", "quantize"])
    recipe["quantize"].update(placement="off")
    bundle = api.run(write_recipe(tmp_path / "r.yaml", recipe), tmp_path / "bundle", cache_dir=tmp_path / "cache")
    int8 = [a for a in json.loads((bundle / "manifest.json").read_text())["artifacts"] if a["precision"] == "int8"]
    assert [a["id"] for a in int8] == [f"teacher/{TARGETS[0]}/int8"]
    assert "placement_search" not in int8[0]["meta"]
