"""Shapes real models have: a scalar input, an RNN state batched on axis 1 and fed back closed-loop,
an output batched on axis 1 (CTC's (T, B, C)) with float labels reaching the metric; bad batch axes
and state pairs refused; init reading these from a model; benchmark --data fixing dynamic H/W."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
import torch
import yaml
from onnx import TensorProto, helper

from edge_pipeline import api
from edge_pipeline.backends.base import RunnerOptions
from edge_pipeline.backends.registry import get_backend
from edge_pipeline.benchmarking.fidelity import output_fidelity
from edge_pipeline.calibration.layout import Layout, run_batches, run_closed_loop
from edge_pipeline.config.recipes import load_recipe
from edge_pipeline.config.schema import ExportConfig, InputSpec
from edge_pipeline.errors import ConfigError, StageError
from edge_pipeline.modeling.onnx_export import export_onnx
from edge_pipeline.scaffold.starter import init_recipe
from tests.conftest import write_recipe
from tests.integration.shaped_models import (
    CHUNK,
    HIDDEN,
    LAYERS,
    recognizer_recipe,
    stream_arrays,
    stream_recipe,
    streaming_gru,
)

pytestmark = pytest.mark.slow

STREAM_LAYOUT = Layout(inputs={"state": 1, "sr": None}, outputs={"next_state": 1}, state={"next_state": "state"})


@pytest.fixture(scope="module")
def stream_bundle(tmp_path_factory):
    folder = tmp_path_factory.mktemp("stream")
    recipe = stream_recipe(folder, targets=["x86-cpu-onnxruntime", "x86-cpu-openvino"])
    return api.run(write_recipe(folder / "r.yaml", recipe), folder / "bundle", cache_dir=folder / "cache")


def _report(bundle) -> dict:
    return json.loads((bundle / "report.json").read_text())


def _manifest_artifact(bundle, artifact_id: str) -> dict:
    artifacts = json.loads((bundle / "manifest.json").read_text())["artifacts"]
    return next(a for a in artifacts if a["id"] == artifact_id)


@pytest.mark.openvino
def test_scalar_input_and_state_run_on_both_runtimes(stream_bundle):
    rows = _report(stream_bundle)["results"]
    seen = {(row["target"], row["precision"]) for row in rows}
    assert seen == {(t, p) for t in ("x86-cpu-onnxruntime", "x86-cpu-openvino") for p in ("fp32", "int8")}
    for row in rows:
        assert set(row["fidelity"]) == {"prob", "next_state"}, row["artifact_id"]


def _closed_and_forced(path) -> tuple[dict, dict]:
    arrays = stream_arrays(12)
    with get_backend("onnxruntime").runner(path, RunnerOptions(threads=1)) as runner:
        closed = run_closed_loop(runner.infer, arrays, STREAM_LAYOUT)
        forced = run_batches(runner.infer, arrays, Layout(STREAM_LAYOUT.inputs, STREAM_LAYOUT.outputs), 1)
    return closed, forced


@pytest.mark.openvino
def test_fidelity_is_measured_closed_loop_on_each_artifacts_own_state(stream_bundle):
    fp32 = _manifest_artifact(stream_bundle, "teacher/onnx/fp32")
    int8 = _manifest_artifact(stream_bundle, "teacher/x86-cpu-onnxruntime/int8")
    want, want_forced = _closed_and_forced(stream_bundle / fp32["path"])
    got, got_forced = _closed_and_forced(stream_bundle / int8["path"])
    assert want["next_state"].shape == (LAYERS, 12, HIDDEN)  # joined along the state's batch axis
    # Fed back, the state differs from the data's zeros: closed-loop is not teacher-forced.
    assert not np.allclose(want["prob"], want_forced["prob"], atol=1e-4)
    closed = output_fidelity(got["next_state"], want["next_state"]).cosine
    forced = output_fidelity(got_forced["next_state"], want_forced["next_state"]).cosine
    assert closed != pytest.approx(forced, abs=1e-6)
    assert int8["meta"]["fidelity_check"]["next_state"]["cosine"] == pytest.approx(closed, abs=1e-6)
    row = next(r for r in _report(stream_bundle)["results"] if r["artifact_id"] == int8["id"])
    assert row["fidelity"]["next_state"]["cosine"] == pytest.approx(closed, abs=1e-5)


def test_output_batched_on_axis_1_with_float_labels_through_run(tmp_path):
    recipe = write_recipe(tmp_path / "r.yaml", recognizer_recipe(tmp_path))
    bundle = api.run(recipe, tmp_path / "bundle", cache_dir=tmp_path / "cache")
    rows = _report(bundle)["results"]
    assert {row["precision"] for row in rows} == {"fp32", "int8"}
    for row in rows:  # the metric raises unless it gets (T, N, C) logits and float labels
        assert set(row["metrics"]) == {"abs_error"}
        assert row["accuracy"] is None and row["fidelity"]["logits"]["cosine"] > 0.5


def _loaded(tmp_path, **changes) -> None:
    recipe = stream_recipe(tmp_path)
    recipe.update(changes)
    load_recipe(write_recipe(tmp_path / "bad.yaml", recipe))


@pytest.mark.parametrize(("changes", "words"), [
    ({"inputs": [{"name": "audio", "shape": [1, CHUNK], "batch_axis": 2}]}, "batch_axis 2 is out of range"),
    ({"state": {"next_state": "hidden"}}, "no input is named 'hidden'"),
    ({"state": {"nothing": "state"}}, "which are not in 'outputs'"),
    ({"output_batch_axes": {"next_state": 0}}, "output batch axis 0 but input batch axis 1"),
])
def test_bad_batch_axes_and_state_pairs_are_refused_at_load(tmp_path, changes, words):
    with pytest.raises(ConfigError, match=words) as caught:
        _loaded(tmp_path, **changes)
    assert "\n" not in str(caught.value).strip()


def test_a_state_pair_whose_shapes_differ_is_refused_at_export(tmp_path):
    specs = [InputSpec(name="audio", shape=[1, CHUNK]),
             InputSpec(name="state", shape=[LAYERS, 1, HIDDEN], batch_axis=1),
             InputSpec(name="sr", shape=[], dtype="int64")]
    layout = Layout(inputs={"state": 1, "sr": None}, outputs={"prob": 1}, state={"prob": "state"})
    with pytest.raises(StageError, match=r"state pair prob -> state: output 'prob' has shape \[2, 1\]"):
        export_onnx(streaming_gru(), specs, ExportConfig(), tmp_path / "m.onnx", stream_arrays(4),
                    ["prob", "next_state"], layout)


FACTORY = """
import torch
from torch import nn


class Tagger(nn.Module):
    def __init__(self):
        super().__init__()
        self.tokens = nn.Embedding(100, 8)

    def forward(self, ids, sr):
        return self.tokens(ids).mean(1) * (sr.to(torch.float32) / 16000.0)


def build():
    return Tagger()
"""


def test_init_reads_scalars_vocabularies_and_pins_from_a_factory(tmp_path, monkeypatch):
    (tmp_path / "tagger.py").write_text(FACTORY)
    monkeypatch.chdir(tmp_path)
    written = init_recipe(tmp_path / "r.yaml", factory="tagger.py:build", shapes=["ids=1,6", "sr="],
                          dtypes=["int64"])
    recipe = yaml.safe_load(written.recipe.read_text())
    ids, sr = recipe["inputs"]
    assert ids["value_range"] == [0, 100] and sr["shape"] == []
    stub = np.load(written.calibration)
    assert stub["sr"].shape == (len(stub["ids"]),) and stub["ids"].max() < 100
    load_recipe(written.recipe)


def _graph_with_state_and_ids(path) -> None:
    """ids [batch, seq] into a Gather on a 50-row table; state [2, batch, 4] passed through; a scalar sr;
    one output (seq, batch, 4)."""
    table = helper.make_tensor("table", TensorProto.FLOAT, [50, 4], np.ones(200, np.float32).tolist())
    nodes = [helper.make_node("Gather", ["table", "ids"], ["embedded"]),
             helper.make_node("Transpose", ["embedded"], ["steps"], perm=[1, 0, 2]),
             helper.make_node("Identity", ["state"], ["next_state"])]
    graph = helper.make_graph(
        nodes, "g",
        [helper.make_tensor_value_info("ids", TensorProto.INT64, ["batch", "seq"]),
         helper.make_tensor_value_info("state", TensorProto.FLOAT, [2, "batch", 4]),
         helper.make_tensor_value_info("sr", TensorProto.INT64, [])],
        [helper.make_tensor_value_info("steps", TensorProto.FLOAT, ["seq", "batch", 4]),
         helper.make_tensor_value_info("next_state", TensorProto.FLOAT, [2, "batch", 4])],
        [table])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), str(path))


def test_init_from_onnx_pins_given_sizes_and_finds_batch_axes(tmp_path, monkeypatch):
    _graph_with_state_and_ids(tmp_path / "m.onnx")
    monkeypatch.chdir(tmp_path)
    written = init_recipe(tmp_path / "r.yaml", onnx=tmp_path / "m.onnx", shapes=["ids=1,10"])
    recipe = yaml.safe_load(written.recipe.read_text())
    ids, state, sr = recipe["inputs"]
    assert ids["shape"] == [1, 10] and "dynamic_axes" not in ids and ids["value_range"] == [0, 50]
    assert state["batch_axis"] == 1 and state["shape"] == [2, 1, 4]
    assert sr["shape"] == [] and recipe["output_batch_axes"] == {"steps": 1, "next_state": 1}
    stub = np.load(written.calibration)
    assert stub["state"].shape == (2, len(stub["ids"]), 4) and stub["sr"].shape == (len(stub["ids"]),)
    load_recipe(written.recipe)


def test_benchmark_data_fixes_dynamic_height_and_width(tmp_path):
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.ReLU()).eval()
    path = tmp_path / "dynamic.onnx"
    torch.onnx.export(model, (torch.zeros(1, 3, 16, 16),), str(path), input_names=["images"],
                      dynamic_axes={"images": {0: "N", 2: "H", 3: "W"}}, dynamo=False, opset_version=17)
    np.savez(tmp_path / "data.npz", images=np.zeros((2, 3, 20, 24), np.float32))
    result = api.benchmark([path], eval_data=tmp_path / "data.npz", batch_sizes=[1], threads=[1], warmup=1,
                           iterations=3)
    timed = [c for entry in result["results"] for c in entry["configs"] if "latency_ms" in c]
    assert timed, result


def test_the_kit_vad_decides_by_the_signal_and_its_metric_counts_decisions():
    """The kit VAD's speech calls follow the voiced bursts of a stream it was not tuned on, run
    closed-loop; vad_metric's two shares add to 100 (held each, they bound a change either way)."""
    from edge_pipeline.testing.public_kit import VAD_LAYERS, _vad_stream, streaming_vad, vad_arrays, vad_metric

    model, arrays = streaming_vad(), vad_arrays(48, seed=2)
    state, calls = torch.zeros(VAD_LAYERS, 1, arrays["state"].shape[2]), []
    with torch.no_grad():
        for chunk in torch.from_numpy(arrays["audio"]):
            speech, state = model(chunk[None], state, torch.tensor(16000))
            calls.append(float(speech))
    voiced = _vad_stream(48, seed=2)[1] > 0.5
    assert ((np.array(calls) > 0.5) == voiced).mean() >= 0.9
    figures = vad_metric({"speech": np.array(calls)[:, None]}, None)
    assert figures["speech_fraction"] == pytest.approx(100 * (np.array(calls) > 0.5).mean())
    assert figures["speech_fraction"] + figures["non_speech_fraction"] == pytest.approx(100)
