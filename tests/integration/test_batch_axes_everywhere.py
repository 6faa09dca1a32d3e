"""Every place that reads or splits a batch finds it on each tensor's own batch axis: ORT Mobile's fixed
batch, a graph's or a runner's fixed batch, OpenVINO's throughput split, provider samples, the export
stage's label check and device benchmark jobs, each exercised by a model batched on axis 1 or with a
scalar input."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

from edge_pipeline import api
from edge_pipeline.backends.base import RunnerOptions
from edge_pipeline.backends.onnxruntime.backend import _fixed_batch
from edge_pipeline.backends.onnxruntime.mobile import check_mobile_source, produce_mobile_artifacts
from edge_pipeline.backends.onnxruntime.options import OrtMobileOptions
from edge_pipeline.backends.registry import get_backend
from edge_pipeline.benchmarking.worker import run_job
from edge_pipeline.calibration.layout import Layout, run_closed_loop
from edge_pipeline.calibration.providers import provided_dataset
from edge_pipeline.config.recipes import load_recipe
from edge_pipeline.config.schema import ExportConfig, InputSpec
from edge_pipeline.errors import ConfigError, DataError
from edge_pipeline.modeling.onnx_export import export_onnx, onnx_output_shapes
from edge_pipeline.remote.bundle_plan import bundle_layout
from edge_pipeline.remote.jobs import Sweep, device_job
from tests.conftest import write_recipe
from tests.integration.shaped_models import (
    CHUNK,
    CLASSES,
    HIDDEN,
    LAYERS,
    STEPS,
    line_images,
    state_first_graph,
    stream_arrays,
    stream_recipe,
    streaming_gru,
    tiny_recognizer,
)

STREAM_LAYOUT = Layout(inputs={"state": 1, "sr": None}, outputs={"next_state": 1}, state={"next_state": "state"})
STREAM_SPECS = [InputSpec(name="audio", shape=[1, CHUNK]),
                InputSpec(name="state", shape=[LAYERS, 1, HIDDEN], batch_axis=1),
                InputSpec(name="sr", shape=[], dtype="int64")]


@pytest.fixture(scope="module")
def stream_onnx(tmp_path_factory):
    path = tmp_path_factory.mktemp("stream") / "stream.onnx"
    export_onnx(streaming_gru(), STREAM_SPECS, ExportConfig(), path, stream_arrays(4), ["prob", "next_state"],
                STREAM_LAYOUT)
    return path


def test_ort_mobile_fixes_each_inputs_batch_on_its_own_axis(stream_onnx, tmp_path):
    options = OrtMobileOptions(optimization_styles=["fixed"], execution_providers=["xnnpack"])
    with pytest.raises(ConfigError, match="input 'state' has dynamic non-batch dimensions"):
        check_mobile_source(stream_onnx, options)  # read as batched on axis 0, its axis 1 looks dynamic
    check_mobile_source(stream_onnx, options, STREAM_LAYOUT)
    produced = produce_mobile_artifacts(stream_onnx, tmp_path, options, STREAM_LAYOUT)
    ort_model = next(p for p in produced if p.kind == "ort").path
    with get_backend("onnxruntime").runner(ort_model, RunnerOptions(threads=1, layout=STREAM_LAYOUT)) as runner:
        shapes = {i.name: i.shape for i in runner.inputs}
        assert shapes == {"audio": (1, CHUNK), "state": (LAYERS, 1, HIDDEN), "sr": ()}
        assert runner.fixed_batch() == 1
        got = run_closed_loop(runner.infer, stream_arrays(6), STREAM_LAYOUT)
    with get_backend("onnxruntime").runner(stream_onnx, RunnerOptions(threads=1)) as runner:
        want = run_closed_loop(runner.infer, stream_arrays(6), STREAM_LAYOUT)
    np.testing.assert_allclose(got["next_state"], want["next_state"], atol=1e-5)


@pytest.mark.parametrize(("batch", "fixed"), [("batch", None), (1, 1)])
def test_a_fixed_batch_is_read_at_the_batch_axis(tmp_path, batch, fixed):
    """The first input is a state [2, B, 16]: its axis 0 (2 layers) is no batch."""
    path = tmp_path / "state_first.onnx"
    state_first_graph(path, batch)
    layout = Layout(inputs={"state": 1, "sr": None})
    assert _fixed_batch(onnx.load(str(path)), layout) == fixed
    with get_backend("onnxruntime").runner(path, RunnerOptions(threads=1, layout=layout)) as runner:
        assert runner.fixed_batch() == fixed


@pytest.mark.openvino
@pytest.mark.parametrize("model", ["recognizer", "state"])
def test_openvino_throughput_splits_and_joins_on_each_tensors_batch_axis(tmp_path, model):
    """An output batched on axis 1 ((T, B, C)); an input and output both batched on axis 1 (a state)."""
    path = tmp_path / f"{model}.onnx"
    if model == "recognizer":
        specs = [InputSpec(name="image", shape=[1, 1, 4, STEPS])]
        layout = Layout(outputs={"logits": 1})
        export_onnx(tiny_recognizer(), specs, ExportConfig(), path, {"image": line_images(4)}, ["logits"], layout)
        feed, batched = {"image": line_images(8)}, ("logits", (STEPS, 8, CLASSES))
    else:
        state_first_graph(path, scalar=False)
        layout = Layout(inputs={"state": 1}, outputs={"next_state": 1})
        state = np.random.default_rng(0).standard_normal((LAYERS, 8, HIDDEN)).astype(np.float32)
        feed, batched = {"state": state}, ("next_state", (LAYERS, 8, HIDDEN))
    backend = get_backend("openvino")
    throughput = {"performance_hint": "throughput", "num_streams": 2}
    with backend.runner(path, RunnerOptions(threads=2, variant="f32", settings=throughput, layout=layout)) as runner:
        assert runner.runtime_info()["infer_requests"] > 1 and runner._splits_batch(feed)
        split = runner.infer(feed)
    with backend.runner(path, RunnerOptions(threads=2, variant="f32", layout=layout)) as runner:
        whole = runner.infer(feed)
    name, shape = batched
    assert split[name].shape == shape
    np.testing.assert_allclose(split[name], whole[name], atol=1e-5)


@pytest.mark.parametrize("provider", ["stream_samples", "stream_batches"])
def test_provider_samples_are_joined_on_each_inputs_batch_axis(provider):
    data = provided_dataset(f"tests.integration.shaped_models:{provider}", STREAM_SPECS, "data.eval.provider")
    want = stream_arrays(12)
    assert {name: a.shape for name, a in data.arrays.items()} == {name: a.shape for name, a in want.items()}
    for name, array in want.items():
        np.testing.assert_array_equal(data.arrays[name], array)


def test_output_shapes_drop_each_outputs_own_batch_axis(tmp_path):
    path = tmp_path / "recognizer.onnx"
    layout = Layout(outputs={"logits": 1})
    export_onnx(tiny_recognizer(), [InputSpec(name="image", shape=[1, 1, 4, STEPS])], ExportConfig(), path,
                {"image": line_images(4)}, ["logits"], layout)
    assert onnx_output_shapes(path, layout) == {"logits": (STEPS, CLASSES)}
    assert onnx_output_shapes(path, Layout(outputs={"logits": None})) == {"logits": (STEPS, None, CLASSES)}


def test_export_checks_labels_against_classes_batched_on_axis_1(tmp_path):
    """(C, B) class scores: the classes are axis 0, so labels beyond them are refused after export."""
    x = np.random.default_rng(0).standard_normal((12, CHUNK)).astype(np.float32)
    np.savez(tmp_path / "d.npz", x=x, y=np.arange(12) % (CLASSES + 2))
    recipe = {"metadata": {"name": "transposed"},
              "model": {"factory": "tests.integration.shaped_models:transposed_classifier"},
              "input": {"name": "x", "shape": [1, CHUNK]}, "outputs": ["scores"],
              "output_batch_axes": {"scores": 1}, "class_score_outputs": ["scores"],
              "stages": ["export"],
              "data": {"calibration": {"path": str(tmp_path / "d.npz")}, "eval": {"path": str(tmp_path / "d.npz")}}}
    with pytest.raises(DataError, match=rf"labels lie outside 0..{CLASSES - 1} \(the {CLASSES} classes of output "
                                        "'scores'\\)"):
        api.run(write_recipe(tmp_path / "r.yaml", recipe), tmp_path / "bundle", cache_dir=tmp_path / "cache")


def test_a_device_job_feeds_the_bundles_batch_axes(stream_onnx, tmp_path):
    """What a device's worker runs: the job built from a bundle's manifest carries its recipe's layout,
    so a state batched on axis 1 and a scalar are fed as the model takes them."""
    snapshot = load_recipe(write_recipe(tmp_path / "r.yaml", stream_recipe(tmp_path))).model_dump(mode="json")
    layout = bundle_layout(tmp_path, {"recipe": {"snapshot": snapshot}})
    assert layout == Layout(inputs={"audio": 0, "state": 1, "sr": None}, outputs={"next_state": 1},
                            state={"next_state": "state"})
    sweep = Sweep(batch_sizes=[1], threads=[1], warmup=1, iterations=3)
    job = device_job(stream_onnx, sweep, None, layout)
    timed = run_job(job)["configs"]
    assert [c["batch_size"] for c in timed if "latency_ms" in c] == [1], timed
    with pytest.raises(DataError, match="input 'state' has dynamic dimensions"):
        run_job(device_job(stream_onnx, sweep, None))  # without the layout its batch axis looks like axis 0
