"""Latency-aware placement at unit level, from constructed profiles and graphs (never from measured
speed): Q/DQ, reorder and layout ops counted to the compute layer they serve, the layers slower in
INT8 picked by the margin, and a speed-kept set that breaks the floor reduced, smallest gain first,
with the fidelity fallback's layers kept throughout."""

from __future__ import annotations

import pytest

from edge_pipeline.backends.base import ExecutedNode, LayerProfile, LayerTime, ProducedArtifact
from edge_pipeline.errors import FidelityFloorError
from edge_pipeline.fidelity import placement
from edge_pipeline.fidelity.attribution import layer_costs
from edge_pipeline.fidelity.placement import LayerTiming, Timings, keep_for_speed, place, speed_kept


def _profile(times: dict[str, tuple[str, float]], runs: int = 10) -> LayerProfile:
    """Node -> (op, ms per run), summed over ``runs`` as a profiler reports them."""
    return LayerProfile([LayerTime(name, op, ms * runs) for name, (op, ms) in times.items()], runs)


def test_ort_qdq_ops_count_to_the_layer_they_feed_or_read_from():
    # x -> Q -> Transpose -> conv_a -> DQ -> PRelu -> Q -> MaxPool -> conv_b -> Transpose -> Softmax -> DQ
    #                                                       Q also feeds conv_c: shared evenly
    graph = [
        ExecutedNode("x_q", "QuantizeLinear"),
        ExecutedNode("t_in", "Transpose", ("x_q",)),
        ExecutedNode("conv_a_token", "QLinearConv", ("t_in",), "int8", ("conv_a",)),
        ExecutedNode("a_dq", "DequantizeLinear", ("conv_a_token",)),
        ExecutedNode("prelu", "PRelu", ("a_dq",)),
        ExecutedNode("prelu_q", "QuantizeLinear", ("prelu",)),
        ExecutedNode("pool", "NhwcMaxPool", ("prelu_q",)),
        ExecutedNode("conv_b_token", "QLinearConv", ("pool",), "int8", ("conv_b",)),
        ExecutedNode("conv_c_token", "QLinearConv", ("prelu_q",), "int8", ("conv_c",)),
        ExecutedNode("t_out", "Transpose", ("conv_b_token",)),
        ExecutedNode("softmax", "QLinearSoftmax", ("t_out",)),
        ExecutedNode("out_dq", "DequantizeLinear", ("softmax",)),
    ]
    times = {"x_q": ("QuantizeLinear", 0.1), "t_in": ("Transpose", 0.2), "conv_a_token": ("QLinearConv", 1.0),
             "a_dq": ("DequantizeLinear", 0.3), "prelu": ("PRelu", 0.5), "prelu_q": ("QuantizeLinear", 0.4),
             "pool": ("NhwcMaxPool", 0.2), "conv_b_token": ("QLinearConv", 2.0), "conv_c_token": ("QLinearConv", 1.5),
             "t_out": ("Transpose", 0.05), "softmax": ("QLinearSoftmax", 0.3), "out_dq": ("DequantizeLinear", 0.1)}
    costs = {cost.name: cost for cost in layer_costs(_profile(times), graph)}
    assert set(costs) == {"conv_a_token", "conv_b_token", "conv_c_token"}
    assert costs["conv_a_token"].own_ms == pytest.approx(1.0)
    assert costs["conv_a_token"].around_ms == pytest.approx(0.1 + 0.2 + 0.3)  # Q and Transpose in, DQ out
    assert costs["conv_b_token"].around_ms == pytest.approx(0.2 + 0.05)  # its half of the shared Q, the Transpose out
    assert costs["conv_c_token"].around_ms == pytest.approx(0.2)
    assert costs["conv_b_token"].total_ms == pytest.approx(2.25) and costs["conv_a_token"].aliases == ("conv_a",)


def test_reorders_count_by_adjacency_on_either_side():
    # OpenVINO: x -> FakeQuantize -> Reorder -> conv -> Reorder -> Softmax; ORT NCHWc: ReorderInput/Output
    graph = [
        ExecutedNode("x", "Input"),
        ExecutedNode("x/fq", "FakeQuantize", ("x",)),
        ExecutedNode("x/fq_abcd_acdb", "Reorder", ("x/fq",)),
        ExecutedNode("conv", "Convolution", ("x/fq_abcd_acdb",), "int8", ("conv", "conv/WithoutBiases")),
        ExecutedNode("conv_acdb_abcd", "Reorder", ("conv",)),
        ExecutedNode("softmax", "Softmax", ("conv_acdb_abcd",)),
        ExecutedNode("reorder_in", "ReorderInput", ("softmax",)),
        ExecutedNode("fc_nchwc", "Conv", ("reorder_in",), "float", ("fc",)),
        ExecutedNode("reorder_out", "ReorderOutput", ("fc_nchwc",)),
        ExecutedNode("far", "Reorder", ()),  # serves no compute layer: nobody's
    ]
    times = {"x/fq": ("FakeQuantize", 0.1), "x/fq_abcd_acdb": ("Reorder", 0.2), "conv": ("Convolution", 1.0),
             "conv_acdb_abcd": ("Reorder", 0.3), "softmax": ("Softmax", 0.4), "reorder_in": ("ReorderInput", 0.5),
             "fc_nchwc": ("Conv", 0.6), "reorder_out": ("ReorderOutput", 0.7), "far": ("Reorder", 9.0)}
    costs = {cost.name: cost for cost in layer_costs(_profile(times, runs=4), graph)}
    assert costs["conv"].around_ms == pytest.approx(0.1 + 0.2 + 0.3)
    assert costs["fc_nchwc"].around_ms == pytest.approx(0.5 + 0.7) and costs["fc_nchwc"].precision == "float"
    assert sum(cost.total_ms for cost in costs.values()) == pytest.approx(1.6 + 1.8)  # Softmax and 'far' are no one's


def test_a_layer_not_timed_by_the_profiler_gets_no_figure():
    graph = [ExecutedNode("conv", "QLinearConv", (), "int8"), ExecutedNode("fused_away", "QLinearConv", (), "int8")]
    assert [cost.name for cost in layer_costs(_profile({"conv": ("QLinearConv", 1.0)}), graph)] == ["conv"]


def test_only_int8_layers_slower_by_more_than_the_margin_are_kept_float_for_speed():
    layers = [LayerTiming("slow", "Conv", 1.0, 1.5), LayerTiming("within_noise", "Conv", 1.0, 1.05),
              LayerTiming("faster", "Conv", 1.0, 0.5), LayerTiming("slowest", "Conv", 1.0, 3.0),
              LayerTiming("already_float", "Conv", 1.0, 2.0, precision="float"),
              LayerTiming("no_fp32_figure", "Conv", None, 2.0)]
    assert [layer.node for layer in speed_kept(layers)] == ["slowest", "slow"]  # most time gained first
    assert [layer.node for layer in speed_kept(layers, margin=0.0)] == ["slowest", "slow", "within_noise"]


def _floor_miss(reached: float = 0.95) -> FidelityFloorError:
    return FidelityFloorError("below the floor", artifact="m.onnx", reached=reached, floor=0.99)


def test_a_speed_kept_set_that_breaks_the_floor_is_reduced_smallest_gain_first():
    candidates = [LayerTiming("a", "Conv", 1.0, 4.0), LayerTiming("b", "Conv", 1.0, 1.5),
                  LayerTiming("c", "Conv", 1.0, 2.0)]
    tried = []

    def attempt(names):
        tried.append(list(names))
        if "b" in names:  # keeping b float moves the output below the floor
            raise _floor_miss()
        return [ProducedArtifact("m.onnx", "onnx", "int8")]

    kept, produced, misses = keep_for_speed(attempt, candidates, lambda: False)
    assert tried == [["a", "c", "b"], ["a", "c"]]
    assert [layer.node for layer in kept] == ["a", "c"] and produced
    assert misses == [{"speed_kept": ["a", "c", "b"], "reached": 0.95, "dropped": "b"}]


def test_no_mixed_artifact_when_every_speed_kept_set_misses_the_floor():
    def attempt(names):
        raise _floor_miss()

    kept, produced, misses = keep_for_speed(attempt, [LayerTiming("a", "Conv", 1.0, 4.0),
                                                      LayerTiming("b", "Conv", 1.0, 2.0)], lambda: False)
    assert (kept, produced) == ([], []) and [m["dropped"] for m in misses] == ["b", "a"]


def test_a_set_slower_as_a_whole_is_rebuilt_adding_layers_one_at_a_time():
    # keeping "a" float costs more at its edges than it saves; "b" and "c" each gain, together most
    candidates = [LayerTiming("a", "Conv", 1.0, 4.0), LayerTiming("b", "Conv", 1.0, 2.0),
                  LayerTiming("c", "Conv", 1.0, 1.5), LayerTiming("d", "Conv", 1.0, 1.2)]
    ratios = {"a,b,c,d": 1.3, "a": 1.4, "b": 0.9, "b,c": 0.8, "b,c,d": 0.85}
    tried = []

    def attempt(names):
        tried.append(",".join(names))
        return [ProducedArtifact(f"{'-'.join(names)}.onnx", "onnx", "int8")]

    def race(produced):
        return (1.0, ratios[tried[-1]])

    kept, produced, misses = keep_for_speed(attempt, candidates, lambda: False, race)
    assert tried == ["a,b,c,d", "a", "b", "b,c", "b,c,d", "b,c"]  # the last: the chosen set built again
    assert [layer.node for layer in kept] == ["b", "c"] and produced[0].path == "b-c.onnx"
    assert misses[0] == {"speed_kept": ["a", "b", "c", "d"], "whole_ms": {"int8": 1.0, "mixed": 1.3},
                         "then": "adding layers one at a time"}
    assert [m["left_out"] for m in misses[1:]] == ["a", "d"]


def test_adding_one_at_a_time_skips_a_layer_that_breaks_the_floor():
    candidates = [LayerTiming("a", "Conv", 1.0, 4.0), LayerTiming("b", "Conv", 1.0, 2.0)]
    tried = []

    def attempt(names):
        tried.append(",".join(names))
        if names == ["a"]:
            raise _floor_miss()
        return [ProducedArtifact("m.onnx", "onnx", "int8")]

    def race(produced):
        return (1.0, 1.2 if tried[-1] == "a,b" else 0.9)

    kept, produced, misses = keep_for_speed(attempt, candidates, lambda: False, race)
    assert tried == ["a,b", "a", "b"] and [layer.node for layer in kept] == ["b"]
    assert misses[1] == {"speed_kept": ["a"], "reached": 0.95, "left_out": "a"}


def test_no_mixed_artifact_and_no_folder_when_every_mixed_set_is_slower_whole(monkeypatch, tmp_path):
    timings = Timings([LayerTiming("conv1", "QLinearConv", 0.10, 0.30),
                       LayerTiming("conv2", "QLinearConv", 0.20, 0.40)], "constructed")
    monkeypatch.setattr(placement, "measure", lambda job, fp32, int8: timings)
    monkeypatch.setattr(placement, "race_whole", lambda job, int8, mixed: (0.50, 0.80))
    job = placement.PlacementJob(None, None, _Config(), tmp_path / "m.onnx", None, 2)

    def attempt(names, folder):  # the whole set, then conv1 alone, then conv2 alone: each slower whole
        (folder / "model.int8.onnx").write_bytes(b"onnx")
        return [ProducedArtifact(folder / "model.int8.onnx", "onnx", "int8", meta={"fidelity_check": {}})]

    primary, made = place(job, ProducedArtifact(tmp_path / "m.int8.onnx", "onnx", "int8"), [], tmp_path / "m.onnx",
                          attempt, tmp_path, "m/t/int8")
    status = primary.meta["placement_search"]["status"]
    assert made == [] and "ran no faster than the full INT8 as a whole (last: 0.8 ms vs 0.5 ms)" in status
    assert not (tmp_path / "mixed").exists()


def test_place_keeps_fidelity_layers_records_figures_and_reduces_on_a_miss(monkeypatch, tmp_path):
    timings = Timings([LayerTiming("conv1", "QLinearConv", 0.10, 0.30), LayerTiming("conv2", "QLinearConv", 0.20, 0.25),
                       LayerTiming("conv3", "QLinearConv", 0.40, 0.20), LayerTiming("fc", "Gemm", 0.05, 0.05, "float")],
                      "constructed")
    monkeypatch.setattr(placement, "measure", lambda job, fp32, int8: timings)
    monkeypatch.setattr(placement, "race_whole", lambda job, int8, mixed: (0.50, 0.40))
    job = placement.PlacementJob(None, None, _Config(), tmp_path / "m.onnx", None, 2)
    asked = []

    def attempt(names, folder):
        asked.append(names)
        if "conv2" in names:
            raise _floor_miss()
        return [ProducedArtifact(folder / "model.int8.onnx", "onnx", "int8", meta={"fidelity_check": {}})]

    primary = ProducedArtifact(tmp_path / "model.int8.onnx", "onnx", "int8")
    primary, made = place(job, primary, ["fc"], tmp_path / "m.onnx", attempt, tmp_path, "m/t/int8")
    assert asked == [["conv1", "conv2"], ["conv1"]]  # the fidelity layer is the attempt's own base (its setting)
    assert [p.variant for p in made] == ["mixed"]
    assert made[0].meta["placement"] == [
        {"node": "conv1", "op_type": "QLinearConv", "reason": "speed", "int8_ms": 0.3, "fp32_ms": 0.1},
        {"node": "fc", "op_type": "Gemm", "reason": "fidelity", "int8_ms": None, "fp32_ms": 0.05}]
    assert made[0].meta["placement_search"]["floor_misses"][0]["dropped"] == "conv2"
    assert [row["node"] for row in primary.meta["layer_times"]] == ["conv1", "conv2", "conv3", "fc"]
    assert all(row["int8_ms"] is not None and row["fp32_ms"] is not None for row in primary.meta["layer_times"])


def test_no_mixed_artifact_when_the_slower_layers_would_save_too_little(monkeypatch, tmp_path):
    # conv1 is 20% slower in INT8, but its 0.02 ms is 2% of the 1.02 ms profiled: noise, not worth a rebuild
    timings = Timings([LayerTiming("conv1", "QLinearConv", 0.10, 0.12), LayerTiming("conv2", "QLinearConv", 1.5, 0.9)],
                      "constructed")
    monkeypatch.setattr(placement, "measure", lambda job, fp32, int8: timings)
    job = placement.PlacementJob(None, None, _Config(), tmp_path / "m.onnx", None, 2)

    def attempt(names, folder):
        raise AssertionError("no mixed artifact should be made")

    primary, made = place(job, ProducedArtifact(tmp_path / "m.int8.onnx", "onnx", "int8"), [], tmp_path / "m.onnx",
                          attempt, tmp_path, "m/t/int8")
    assert made == [] and "would save 0.0200 of 1.0200 ms" in primary.meta["placement_search"]["status"]
    assert [row["node"] for row in primary.meta["layer_times"]] == ["conv1", "conv2"]


def test_without_a_per_layer_profiler_only_whole_artifacts_are_timed_and_the_meta_says_so(monkeypatch, tmp_path):
    monkeypatch.setattr(placement, "measure", lambda job, fp32, int8: Timings(None, "whole artifact", (1.0, 1.4)))
    job = placement.PlacementJob(None, None, _Config(), tmp_path / "m.onnx", None, 2)
    primary, made = place(job, ProducedArtifact(tmp_path / "m.int8.onnx", "onnx", "int8"), [], tmp_path / "m.onnx",
                          lambda names, folder: [], tmp_path, "m/t/int8")
    assert made == [] and "cannot time its layers" in primary.meta["placement_search"]["status"]
    assert "INT8 1.4 ms vs FP32 1.0 ms" in primary.meta["placement_search"]["status"]


class _Config:
    fallback_time_budget_s = 60.0


def test_each_layer_keeps_its_fastest_profiled_round():
    """A load that slowed one round of one layer does not move that layer's figure; a layer one round
    did not time keeps the rounds that did, in the first round's order."""
    from edge_pipeline.fidelity.placement_timing import fastest_round

    rounds = [{"conv1": ("Conv", 0.30, "int8"), "conv2": ("Conv", 0.20, "int8")},
              {"conv1": ("Conv", 0.10, "int8"), "conv2": ("Conv", 0.90, "int8")},
              {"conv2": ("Conv", 0.25, "int8"), "fc": ("Gemm", 0.05, "int8")}]
    assert fastest_round(rounds) == {"conv1": ("Conv", 0.10, "int8"), "conv2": ("Conv", 0.20, "int8"),
                                     "fc": ("Gemm", 0.05, "int8")}
    assert list(fastest_round(rounds)) == ["conv1", "conv2", "fc"]
