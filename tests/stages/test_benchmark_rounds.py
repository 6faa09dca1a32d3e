"""The benchmark stage times every artifact once per round, round after round, in fresh processes,
and pools the samples (what the x86 targets' `benchmark.rounds: 3` relies on)."""

from __future__ import annotations

import json

import pytest

from edge_pipeline import api
from tests.conftest import tiny_recipe_dict, write_recipe

pytestmark = pytest.mark.slow


def test_rows_pool_interleaved_rounds(tmp_path, tiny_data):
    recipe = tiny_recipe_dict(tiny_data, targets=["x86-cpu-onnxruntime", "x86-cpu-openvino"])
    recipe["benchmark"] = {"warmup": 2, "iterations": 10, "rounds": 2}
    bundle = api.run(write_recipe(tmp_path / "r.yaml", recipe), tmp_path / "bundle", cache_dir=tmp_path / "cache")
    report = json.loads((bundle / "report.json").read_text())
    for row in report["results"]:
        assert len(row["round_p50_ms"]) == 2, row["artifact_id"]
        # The pooled stats are stored rounded to 1e-5 ms; the rounds' medians are not.
        assert min(row["round_p50_ms"]) - 1e-5 <= row["latency_ms"]["p50"] <= max(row["round_p50_ms"]) + 1e-5
    steps = [s["step"] for s in json.loads((bundle / "manifest.json").read_text())["steps"]]
    timed = [s for s in steps if " round " in s]
    # Round 1 of every artifact comes before round 2 of any.
    assert max(i for i, s in enumerate(timed) if s.endswith("round 1/2")) < min(
        i for i, s in enumerate(timed) if s.endswith("round 2/2"))


def test_simulated_rows_get_a_short_loop_in_one_round(tmp_path, tiny_data):
    # A CPU simulation of a TensorRT engine times nothing about TensorRT: its rows run a short loop
    # (the eval pass unchanged), whatever the recipe asks of the rows that are device figures.
    recipe = tiny_recipe_dict(tiny_data, targets=["x86-gpu-tensorrt"])
    recipe["benchmark"] = {"warmup": 5, "iterations": 60, "rounds": 2}
    bundle = api.run(write_recipe(tmp_path / "r.yaml", recipe), tmp_path / "bundle", cache_dir=tmp_path / "cache")
    rows = json.loads((bundle / "report.json").read_text())["results"]
    assert rows and all(r["simulated"] for r in rows)
    for row in rows:
        assert len(row["round_p50_ms"]) == 1 and row["latency_ms"]["n"] == 20, row["artifact_id"]
        assert row["accuracy"] is not None


def test_two_tensorrt_targets_share_one_simulated_measurement_per_file(tmp_path, tiny_data):
    # The same Q/DQ and FP32 files run the same way in ONNX Runtime whichever TensorRT target asked:
    # one worker per file, and every target still gets its own rows.
    recipe = tiny_recipe_dict(tiny_data, targets=["x86-gpu-tensorrt", "jetson-orin-tensorrt"])
    bundle = api.run(write_recipe(tmp_path / "r.yaml", recipe), tmp_path / "bundle", cache_dir=tmp_path / "cache")
    report = json.loads((bundle / "report.json").read_text())
    rows = {(r["target"], r["precision"]): r for r in report["results"]}
    assert set(rows) == {(t, p) for t in ("x86-gpu-tensorrt", "jetson-orin-tensorrt") for p in ("fp32", "int8")}
    for precision in ("fp32", "int8"):
        x86, jetson = rows["x86-gpu-tensorrt", precision], rows["jetson-orin-tensorrt", precision]
        assert jetson["samples_ms"] == x86["samples_ms"] and jetson["accuracy"] == x86["accuracy"]
        assert jetson["artifact_id"] != x86["artifact_id"]
    steps = [s["step"] for s in json.loads((bundle / "manifest.json").read_text())["steps"]]
    simulated = [s for s in steps if s.endswith("[ort-simulated]")]
    assert sorted(simulated) == ["teacher/x86-gpu-tensorrt/fp32 [ort-simulated]",
                                 "teacher/x86-gpu-tensorrt/int8 [ort-simulated]"], steps
    [note] = [n for n in report["notes"] if "re-use" in n]
    assert note.startswith("jetson-orin-tensorrt: its ort-simulated rows") and "x86-gpu-tensorrt's measurements" in note


def test_a_target_whose_cpu_features_this_host_lacks_is_named_in_the_notes(tmp_path, tiny_data, monkeypatch):
    # This host as an AVX2-only CPU: x86-cpu-onnxruntime is for AVX512-VNNI, so its rows time other kernels.
    from edge_pipeline.benchmarking import host

    monkeypatch.setattr(host, "cpu_flag_set", lambda root=None: {"fpu", "sse4_2", "avx2", "fma"})
    recipe = tiny_recipe_dict(tiny_data, targets=["x86-cpu-onnxruntime", "x86-cpu-onnxruntime-avx2"])
    recipe["benchmark"] = {"warmup": 2, "iterations": 10, "rounds": 1}
    bundle = api.run(write_recipe(tmp_path / "r.yaml", recipe), tmp_path / "bundle", cache_dir=tmp_path / "cache")
    notes = [n for n in json.loads((bundle / "report.json").read_text())["notes"] if "CPU features" in n]
    assert [n.split(" lists")[0] for n in notes] == ["x86-cpu-onnxruntime"]
    assert "(avx512_vnni)" in notes[0]
    assert "For a deployment CPU like this one: x86-cpu-onnxruntime-auto, x86-cpu-onnxruntime-avx2" in notes[0]


def test_without_a_matching_profile_the_note_says_how_to_write_one(monkeypatch):
    from edge_pipeline.benchmarking import host
    from edge_pipeline.benchmarking.rows import BenchmarkRow
    from edge_pipeline.config.recipes import load_target
    from edge_pipeline.stages.feature_notes import feature_notes

    monkeypatch.setattr(host, "cpu_flag_set", lambda root=None: {"avx2", "fma"})
    row = BenchmarkRow.model_construct(target="x86-cpu-openvino", measured_on="device")
    [note] = feature_notes([row], {"x86-cpu-openvino": load_target("x86-cpu-openvino")})
    assert note.startswith("x86-cpu-openvino lists CPU features this host lacks (avx512_vnni, avx512_bf16)")
    assert "No openvino profile matches this CPU" in note and "extends: x86-cpu-openvino" in note
    monkeypatch.setattr(host, "cpu_flag_set", lambda root=None: {"avx2", "avx512_vnni", "avx512_bf16"})
    assert feature_notes([row], {"x86-cpu-openvino": load_target("x86-cpu-openvino")}) == []


def test_a_changed_artifact_is_timed_again_beside_the_rows_it_is_compared_with(tmp_path, tiny_data):
    # A new INT8 file must not be set against an FP32 timing cached from another hour of the
    # machine: the target's FP32 row is timed again beside it, while an unchanged run re-uses all.
    def timings(samples: int, out: str) -> dict[tuple[str, str], str]:
        recipe = tiny_recipe_dict(tiny_data, quantize={"samples": samples})
        recipe["benchmark"] = {"warmup": 2, "iterations": 10, "rounds": 1}
        bundle = api.run(write_recipe(tmp_path / f"{out}.yaml", recipe), tmp_path / out, cache_dir=tmp_path / "cache")
        rows = json.loads((bundle / "report.json").read_text())["results"]
        return {(row["precision"], row["artifact"]): row["measured_at"] for row in rows}

    first = timings(32, "first")
    again = timings(32, "again")
    changed = timings(16, "changed")
    assert again == first  # nothing changed: every timing re-used
    fp32 = next(key for key in first if key[0] == "fp32")
    assert fp32 in changed and changed[fp32] > first[fp32]  # the same FP32 file, timed again
