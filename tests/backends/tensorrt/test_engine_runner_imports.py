"""Timing an .engine needs only tensorrt and numpy: the backend and its engine runner import on a
device where onnx and onnxruntime do not (a Jetson with JetPack's TensorRT and numpy alone).

TensorRT is not installed here, so a stand-in `tensorrt` package takes its place and the test
checks the import graph (what the worker imports to run an engine), not an engine's execution.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.conftest import REPO
from tests.integration.test_device_benchmark import SITECUSTOMIZE

BLOCKED = ("onnx", "onnxruntime", "onnxscript", "onnxslim", "torch", "nncf", "openvino")

PROBE = """
import json, sys
from pathlib import Path
from edge_pipeline.backends.base import RunnerOptions
from edge_pipeline.backends.registry import load_runtime_backend
backend = load_runtime_backend("tensorrt", "model.int8.qdq.3f2a91c0.sm87.trt10.3.0.engine")
runner = backend.runner(Path("model.engine"), RunnerOptions(threads=1))
print(json.dumps({"runner": type(runner).__module__ + "." + type(runner).__name__,
                  "versions": backend.versions(),
                  "loaded": sorted(m for m in sys.modules if m.split(".")[0] in ("onnx", "onnxruntime"))}))
"""


def test_engine_runner_imports_without_onnx(tmp_path):
    site = tmp_path / "site"
    (site / "tensorrt").mkdir(parents=True)
    (site / "tensorrt" / "__init__.py").write_text('__version__ = "10.3.0"\n')
    (site / "sitecustomize.py").write_text(SITECUSTOMIZE)
    log = tmp_path / "blocked.log"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(REPO)]),
           "EP_TEST_BLOCKED": ",".join(BLOCKED), "EP_TEST_BLOCK_LOG": str(log)}
    proc = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    found = json.loads(proc.stdout.strip().splitlines()[-1])
    assert found["runner"] == "edge_pipeline.backends.tensorrt.engine.TensorRtEngineRunner"
    assert found["loaded"] == [] and found["versions"]["tensorrt"]
    attempted = log.read_text().split() if log.exists() else []
    assert not [m for m in attempted if m.split(".")[0] in ("onnx", "onnxruntime")], attempted


def test_quantization_still_reads_onnx_where_it_is_installed():
    from edge_pipeline.backends.tensorrt import quantize, steps

    assert quantize.onnx.__name__ == "onnx" and steps.onnx.__name__ == "onnx"
