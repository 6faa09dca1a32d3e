"""A TensorRT device bundle through `benchmark --device`: pushed whole, its own script run on the
device (which builds the engine there from the Q/DQ ONNX), its JSON read back as rows.

No TensorRT here: one test shows the refusal on a board without it; the other puts a stand-in
`tensorrt` package and a stand-in script (same arguments, same JSON as build_and_benchmark.py) on
the "device", so the command path is exercised end to end except for TensorRT itself.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from edge_pipeline.backends.tensorrt.bundle import SCRIPT_NAME
from edge_pipeline.cli.main import main
from tests.remote.conftest import _site_packages, device_entry, device_venv, write_devices, write_tiny_onnx

pytestmark = pytest.mark.slow

STAND_IN_SCRIPT = '''
import argparse, json, sys
from pathlib import Path
import tensorrt
parser = argparse.ArgumentParser()
parser.add_argument("--bundle-dir", type=Path)
parser.add_argument("--batch-sizes", type=int, nargs="+")
args = parser.parse_args()
plan = json.loads((args.bundle_dir / "bundle.json").read_text())
stats = {"p50": 1.5, "p90": 1.7, "p99": 1.9, "mean": 1.55, "std": 0.1, "min": 1.4, "max": 2.0, "n": 50}
rows = [{"batch_size": b, "latency_ms": stats, "compute_ms": stats, "h2d_ms": stats, "d2h_ms": stats,
         "throughput_per_s": b * 1e3 / 1.5} for b in args.batch_sizes]
engine = plan["model"].removesuffix(".onnx") + ".sm87.trt" + tensorrt.__version__ + ".engine"
report = {"tensorrt": tensorrt.__version__, "compute_capability": "87", "engine": engine,
          "build": {"seconds": 12.0}, "results": rows}
(args.bundle_dir / ("benchmark.sm87.trt" + tensorrt.__version__ + ".json")).write_text(json.dumps(report))
print("results written")
'''


@pytest.fixture
def bundle(tmp_path) -> Path:
    folder = tmp_path / "bundle" / "artifacts" / "net" / "jetson-orin-tensorrt" / "int8-jetson-bundle" / "jetson-bundle"
    folder.mkdir(parents=True)
    model = write_tiny_onnx(folder / "model.int8.qdq.onnx")
    plan = {"model": model.name, "model_sha256": hashlib.sha256(model.read_bytes()).hexdigest(), "inputs": [],
            "benchmark": {"warmup": 5, "iterations": 50, "batch_sizes": [1]}}
    (folder / "bundle.json").write_text(json.dumps(plan))
    (folder / SCRIPT_NAME).write_text(STAND_IN_SCRIPT)
    return folder


def test_board_without_tensorrt_is_told_what_to_install(server, client_key, device_python, bundle, tmp_path, capsys):
    devices = write_devices(tmp_path / "devices.yaml", {"jetson": device_entry(
        server, client_key, device_python, tmp_path / "w", tmp_path / "known_hosts", targets=["jetson-orin-tensorrt"])})
    assert main(["benchmark", "--device", "jetson", "--devices", str(devices), str(bundle)]) == 3
    err = capsys.readouterr().err
    assert "device 'jetson'" in err and "tensorrt does not import" in err and "-m pip install tensorrt" in err


def test_bundle_script_runs_on_the_device_and_its_rows_come_back(server, client_key, bundle, tmp_path,
                                                                 tmp_path_factory, capsys):
    python = device_venv(tmp_path_factory.mktemp("trt-venv"), ("numpy", "onnxruntime"))
    stand_in = _site_packages(python.parent.parent) / "tensorrt"
    stand_in.mkdir()
    (stand_in / "__init__.py").write_text('__version__ = "10.3.0"\n')
    devices = write_devices(tmp_path / "devices.yaml", {"jetson": device_entry(
        server, client_key, python, tmp_path / "w", tmp_path / "known_hosts", targets=["jetson-orin-tensorrt"])})
    out = tmp_path / "jetson.json"
    code = main(["benchmark", "--device", "jetson", "--devices", str(devices), str(bundle), "--batch-sizes", "1,8",
                 "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    (result,) = json.loads(out.read_text())["results"]
    assert result["backend"] == "tensorrt" and result["variant"] == "tensorrt" and result["device"] == "jetson"
    assert result["sha256"] == json.loads((bundle / "bundle.json").read_text())["model_sha256"]
    assert [c["batch_size"] for c in result["configs"]] == [1, 8]
    assert result["configs"][0]["latency_ms"]["p50"] == 1.5 and "compute_ms" in result["configs"][0]
    assert result["tensorrt_bundle"]["engine"] == "model.int8.qdq.sm87.trt10.3.0.engine"
    assert not (bundle / "benchmark.sm87.trt10.3.0.json").exists()  # written on the device, not here
