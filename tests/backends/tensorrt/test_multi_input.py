"""Multi-input models through the TensorRT plan, trtexec line, Jetson bundle and device benchmark
feeds, without TensorRT: int64 token ids plus a float mask, each with its own profile entry."""

import json
import py_compile
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from edge_pipeline.backends.tensorrt import device_script
from edge_pipeline.backends.tensorrt.backend import TensorRtBackend
from edge_pipeline.config.recipes import load_target
from edge_pipeline.errors import ConfigError

VOCAB, SEQUENCE, DIM = 96, 16, 8


def _two_input_model(path: Path, mask_dims: tuple = ("batch", SEQUENCE)) -> Path:
    """input_ids int64 [batch, 16] gathered from an embedding table, times a float mask, summed."""
    ids = helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", SEQUENCE])
    mask = helper.make_tensor_value_info("attention_mask", TensorProto.FLOAT, list(mask_dims))
    out = helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["batch", DIM])
    table = np.random.default_rng(0).standard_normal((VOCAB, DIM)).astype(np.float32)
    initializers = [
        numpy_helper.from_array(table, "table"),
        numpy_helper.from_array(np.array([-1], np.int64), "last"),
        numpy_helper.from_array(np.array([1], np.int64), "sequence_axis"),
    ]
    nodes = [
        helper.make_node("Gather", ["table", "input_ids"], ["tokens"], name="embed"),
        helper.make_node("Unsqueeze", ["attention_mask", "last"], ["keep"], name="keep"),
        helper.make_node("Mul", ["tokens", "keep"], ["masked"], name="mask"),
        helper.make_node("ReduceSum", ["masked", "sequence_axis"], ["embedding"], name="pool", keepdims=0),
    ]
    graph = helper.make_graph(nodes, "two_inputs", [ids, mask], [out], initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def _artifact(path: Path, meta: dict | None = None):
    class Onnx:  # the fields device_steps reads from an Artifact record
        kind, precision, id = "onnx", "int8", "m/jetson-orin-tensorrt/int8"

    Onnx.path, Onnx.meta = path, meta or {}
    return Onnx()


def _bundle_step(path: Path, meta: dict | None = None):
    (step,) = TensorRtBackend().device_steps(_artifact(path, meta), load_target("jetson-orin-tensorrt"))
    return step


@pytest.fixture
def model(tmp_path) -> Path:
    return _two_input_model(tmp_path / "two.onnx")


def test_plan_lists_every_input_with_its_dtype_shape_and_profile(model):
    plan = _bundle_step(model).material["plan"]
    assert plan["schema_version"] == 2 and "input" not in plan and "profile" not in plan
    ids, mask = plan["inputs"]
    assert ids == {
        "name": "input_ids", "dtype": "int64", "sample_shape": [SEQUENCE],
        "value_range": [0, 2], "value_range_source": "default",
        "profile": {"min": [1, SEQUENCE], "opt": [1, SEQUENCE], "max": [16, SEQUENCE]},  # the Jetson target's batches
    }
    assert mask["name"] == "attention_mask" and mask["dtype"] == "float32" and "value_range" not in mask
    assert mask["profile"] == ids["profile"]


def test_ranges_seen_in_the_calibration_data_reach_the_plan(model):
    plan = _bundle_step(model, {"input_value_ranges": {"input_ids": [1, VOCAB]}}).material["plan"]
    ids = plan["inputs"][0]
    assert ids["value_range"] == [1, VOCAB] and ids["value_range_source"] == "calibration data"


def test_trtexec_lists_both_inputs_in_every_shape_flag(model):
    command = device_script.trtexec_command(_bundle_step(model).material["plan"], "two.engine")
    flags = dict(part.split("=", 1) for part in command.split() if part.startswith("--") and "=" in part)
    assert flags["--minShapes"] == "input_ids:1x16,attention_mask:1x16"
    assert flags["--optShapes"] == "input_ids:1x16,attention_mask:1x16"
    assert flags["--maxShapes"] == "input_ids:16x16,attention_mask:16x16"
    assert flags["--shapes"] == flags["--optShapes"]


def test_bundle_ships_both_inputs_in_plan_readme_and_dry_run(model, tmp_path):
    (produced,) = _bundle_step(model).produce(tmp_path / "out")
    folder = produced.path
    plan = json.loads((folder / device_script.PLAN_FILE).read_text())
    assert [entry["name"] for entry in plan["inputs"]] == ["input_ids", "attention_mask"]
    assert json.loads((folder / "manifest.json").read_text())["schema_version"] == 2
    readme = (folder / "README.md").read_text()
    assert "input:        input_ids int64, benchmark feeds integers in [0, 2) (range: default)" in readme
    assert "input:        attention_mask float32, benchmark feeds standard normal" in readme
    assert "--minShapes=input_ids:1x16,attention_mask:1x16" in readme
    script = folder / "build_and_benchmark.py"
    py_compile.compile(str(script), cfile=str(tmp_path / "script.pyc"), doraise=True)
    dry = subprocess.run([sys.executable, str(script), "--dry-run"], capture_output=True, text=True, cwd=tmp_path)
    assert dry.returncode == 0, dry.stderr
    assert "input:        input_ids int64" in dry.stdout and "input:        attention_mask float32" in dry.stdout
    assert dry.stdout.count("profile:      min 1x16  opt 1x16  max 16x16") == 2
    assert "--maxShapes=input_ids:16x16,attention_mask:16x16" in dry.stdout


def test_dynamic_non_batch_dim_on_the_second_input_is_one_line_naming_it(tmp_path):
    path = _two_input_model(tmp_path / "dynamic.onnx", mask_dims=("batch", "sequence"))
    with pytest.raises(ConfigError, match="input 'attention_mask' has dynamic non-batch dims") as caught:
        _bundle_step(path)
    assert "\n" not in str(caught.value) and "export with fixed sample shape" in str(caught.value)


def test_device_benchmark_feeds_follow_each_inputs_dtype_and_range(model):
    entries = [
        {"name": "ids", "dtype": "int64", "sample_shape": [SEQUENCE], "value_range": [5, 9]},
        {"name": "mask", "dtype": "int32", "sample_shape": [SEQUENCE]},  # no range: 0/1
        {"name": "keep", "dtype": "bool", "sample_shape": [SEQUENCE]},
        {"name": "x", "dtype": "float16", "sample_shape": [2, 3]},
    ]
    feed = device_script.synthetic_feed({"inputs": entries}, batch=4)
    assert {name: str(a.dtype) for name, a in feed.items()} == {
        "ids": "int64", "mask": "int32", "keep": "bool", "x": "float16"
    }
    assert feed["ids"].shape == (4, SEQUENCE) and feed["x"].shape == (4, 2, 3)
    assert feed["ids"].min() >= 5 and feed["ids"].max() < 9
    assert set(np.unique(feed["mask"])) <= {0, 1}
    # The plan's own feed runs the model: every token id lies inside the embedding table.
    plan = _bundle_step(model, {"input_value_ranges": {"input_ids": [0, VOCAB]}}).material["plan"]
    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    (embedding,) = session.run(None, device_script.synthetic_feed(plan, batch=8))
    assert embedding.shape == (8, DIM)


def test_a_plan_from_before_the_inputs_list_is_refused(tmp_path):
    (tmp_path / device_script.PLAN_FILE).write_text(json.dumps({"schema_version": 1, "input": {"name": "x"}}))
    with pytest.raises(SystemExit, match="predates this script"):
        device_script.load_plan(tmp_path)


@pytest.mark.slow
def test_kit_encoder_quantizes_and_bundles_with_calibration_ranges(tmp_path):
    """The BERT-style kit encoder (int64 ids + int64 mask): the Q/DQ model runs in ONNX Runtime
    (the ort-simulated path) and its bundle plans both inputs with the ranges the data showed."""
    from edge_pipeline.calibration.dataset import ArrayDataset
    from edge_pipeline.config.schema import ExportConfig, InputSpec
    from edge_pipeline.modeling.onnx_export import export_onnx
    from edge_pipeline.testing import kit

    specs = [InputSpec(name="input_ids", shape=[1, kit.SEQUENCE], dtype="int64", value_range=(0, kit.VOCAB)),
             InputSpec(name="attention_mask", shape=[1, kit.SEQUENCE], dtype="int64", value_range=(0, 2))]
    arrays = kit.encoder_arrays(32, seed=1)
    fp32 = tmp_path / "encoder.onnx"
    export_onnx(kit.tiny_encoder(), specs, ExportConfig(), fp32, arrays)
    target = load_target("jetson-orin-tensorrt")
    calibration = ArrayDataset(arrays, None, "encoder calibration", "encoder-calib")
    produced = TensorRtBackend().quantize(fp32, calibration, target.quantize.model_copy(update={"samples": 32}),
                                          target, tmp_path / "q")
    qdq = next(p for p in produced if p.kind == "onnx")
    ranges = qdq.meta["input_value_ranges"]
    assert ranges["attention_mask"] == [0, 2] and 0 <= ranges["input_ids"][0] and ranges["input_ids"][1] <= kit.VOCAB

    session = ort.InferenceSession(str(qdq.path), providers=["CPUExecutionProvider"])
    (embedding,) = session.run(None, {name: values[:4] for name, values in arrays.items()})
    assert embedding.shape[0] == 4 and np.isfinite(embedding).all()

    (step,) = TensorRtBackend().device_steps(_artifact(qdq.path, qdq.meta), target)
    plan = step.material["plan"]
    assert [(e["name"], e["dtype"], e["value_range"]) for e in plan["inputs"]] == [
        ("input_ids", "int64", ranges["input_ids"]), ("attention_mask", "int64", [0, 2])
    ]
    (bundle,) = step.produce(tmp_path / "out")
    dry = subprocess.run([sys.executable, str(bundle.path / "build_and_benchmark.py"), "--dry-run"],
                         capture_output=True, text=True, cwd=tmp_path)
    assert dry.returncode == 0, dry.stderr
    assert "--minShapes=input_ids:1x16,attention_mask:1x16" in dry.stdout
