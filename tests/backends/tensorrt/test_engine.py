"""Engine build and CUDA-event benchmark: run where TensorRT and an NVIDIA GPU are present.

Here (no TensorRT) every test skips with the reason "tensorrt not installed".
"""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from edge_pipeline.backends.base import RunnerOptions
from edge_pipeline.backends.tensorrt.qdq.insert import insert_qdq
from edge_pipeline.backends.tensorrt.qdq.placement import plan_qdq

pytestmark = [
    pytest.mark.tensorrt,
    pytest.mark.skipif(importlib.util.find_spec("tensorrt") is None, reason="tensorrt not installed"),
]


def _gpu_or_skip() -> None:
    from edge_pipeline.backends.tensorrt.engine import engine_unavailable_reason

    reason = engine_unavailable_reason()
    if reason is not None:
        pytest.skip(reason)


@pytest.fixture
def qdq_model(tmp_path) -> Path:
    """A tiny residual CNN exported and Q/DQ'd with fixed ranges (no calibration needed)."""
    import onnx
    import torch

    from edge_pipeline.testing.tiny import tiny_residual_net

    fp32 = tmp_path / "tiny.onnx"
    torch.onnx.export(
        tiny_residual_net(width=32), (torch.randn(2, 3, 8, 8),), str(fp32), input_names=["input"],
        dynamic_shapes=({0: torch.export.Dim("batch")},), dynamo=True, external_data=False,
    )
    model = onnx.load(str(fp32))
    plan = plan_qdq(model)
    path = tmp_path / "tiny.qdq.onnx"
    onnx.save(insert_qdq(model, plan, {t: 4.0 for t in plan.activations}), str(path))
    return path


def _plan(path: Path) -> dict:
    from edge_pipeline.artifacts.hashing import sha256_file
    from edge_pipeline.backends.tensorrt.options import TensorRtOptions, build_plan

    options = TensorRtOptions(min_batch=1, opt_batch=4, max_batch=8, benchmark_batch_sizes=[1, 4], workspace_mib=256)
    inputs = [{"name": "input", "dtype": "float32", "sample_shape": [3, 8, 8]}]
    return build_plan(path.name, sha256_file(path), inputs, options, "int8", warmup=5, iterations=20)


def test_engine_builds_named_by_gpu_and_tensorrt_version(qdq_model, tmp_path):
    _gpu_or_skip()
    from edge_pipeline.backends.tensorrt.engine import build_engine_artifact, engine_material

    produced = build_engine_artifact(qdq_model, _plan(qdq_model), "int8", tmp_path / "engine")
    material = engine_material()
    assert produced.path.is_file() and produced.kind == "tensorrt-engine"
    assert f"sm{material['compute_capability']}" in produced.path.name
    assert f"trt{material['tensorrt']}" in produced.path.name
    assert produced.meta["compute_capability"] == material["compute_capability"]


def test_engine_runner_matches_onnxruntime_and_reports_cuda_event_timings(qdq_model, tmp_path):
    _gpu_or_skip()
    import onnxruntime as ort

    from edge_pipeline.backends.tensorrt.backend import TensorRtBackend
    from edge_pipeline.backends.tensorrt.engine import build_engine_artifact

    engine = build_engine_artifact(qdq_model, _plan(qdq_model), "int8", tmp_path / "engine").path
    x = np.random.default_rng(0).standard_normal((4, 3, 8, 8)).astype(np.float32)
    expected = ort.InferenceSession(str(qdq_model), providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]
    with TensorRtBackend().runner(engine, RunnerOptions(settings={"event_iterations": 20})) as runner:
        got = list(runner.infer({"input": x}).values())[0]
        info = runner.runtime_info()
    assert np.abs(got - expected).max() < 0.1 * np.abs(expected).max()
    assert set(info["cuda_event_ms"]) == {"h2d", "compute", "d2h"}
    assert {"p50", "p90", "p99"} <= set(info["cuda_event_ms"]["compute"])


def test_device_script_builds_and_benchmarks(qdq_model, tmp_path):
    _gpu_or_skip()
    import json
    import shutil

    from edge_pipeline.backends.tensorrt import device_script as script

    folder = tmp_path / "bundle"
    folder.mkdir()
    shutil.copy2(qdq_model, folder / qdq_model.name)
    (folder / script.PLAN_FILE).write_text(json.dumps(_plan(qdq_model)))
    assert script.main(["--bundle-dir", str(folder)]) == 0
    results = json.loads(next(folder.glob("benchmark.sm*.json")).read_text())
    assert [r["batch_size"] for r in results["results"]] == [1, 4]
    assert script.main(["--bundle-dir", str(folder)]) == 0  # second run re-uses the engine


def test_device_script_builds_and_benchmarks_a_two_input_model(tmp_path):
    """int64 token ids + a float mask: one profile with a shape per input, feeds per input dtype."""
    _gpu_or_skip()
    import json

    from edge_pipeline.artifacts.hashing import sha256_file
    from edge_pipeline.backends.tensorrt import device_script as script
    from edge_pipeline.backends.tensorrt.options import TensorRtOptions, build_plan
    from tests.backends.tensorrt.test_multi_input import VOCAB, _two_input_model

    folder = tmp_path / "bundle"
    folder.mkdir()
    model = _two_input_model(folder / "two.onnx")
    options = TensorRtOptions(min_batch=1, opt_batch=4, max_batch=8, benchmark_batch_sizes=[1, 4], workspace_mib=256)
    inputs = [{"name": "input_ids", "dtype": "int64", "sample_shape": [16], "value_range": [0, VOCAB]},
              {"name": "attention_mask", "dtype": "float32", "sample_shape": [16]}]
    plan = build_plan(model.name, sha256_file(model), inputs, options, "fp32", warmup=2, iterations=10)
    (folder / script.PLAN_FILE).write_text(json.dumps(plan))
    assert script.main(["--bundle-dir", str(folder)]) == 0
    results = json.loads(next(folder.glob("benchmark.sm*.json")).read_text())
    assert [r["batch_size"] for r in results["results"]] == [1, 4]
