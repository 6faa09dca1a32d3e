"""A TensorRT device bundle through `benchmark --device`: pushed whole, its own script run on the
device (which builds the engine there from the Q/DQ ONNX), its JSON read back as rows, and the
engine it built, its own timings and trtexec's figures brought back.

No TensorRT here: one test shows the refusal on a board without it; the others run the real
build_and_benchmark.py with its GPU parts stood in (the engine build writes a file, the timing
returns fixed figures) under a stand-in `tensorrt` package, and a stand-in `trtexec` on the device's
PATH printing a TensorRT 10 performance summary, so everything but TensorRT itself runs for real.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from edge_pipeline.artifacts.hashing import sha256_tree
from edge_pipeline.backends.tensorrt import device_script
from edge_pipeline.backends.tensorrt.bundle import SCRIPT_NAME
from edge_pipeline.cli.main import main
from tests.remote.bundles import read, write_bundle
from tests.remote.conftest import _site_packages, device_entry, device_venv, start_sshd, write_devices, write_tiny_onnx

pytestmark = pytest.mark.slow

JETSON = "jetson-orin-tensorrt"
ARTIFACT_ID = f"net/{JETSON}/int8-jetson-bundle"

STAND_IN_SCRIPT = '''
"""The real build_and_benchmark.py (device_script_real.py beside it), its GPU parts stood in."""
import importlib.util
from pathlib import Path

spec = importlib.util.spec_from_file_location("real", Path(__file__).with_name("device_script_real.py"))
real = importlib.util.module_from_spec(spec)
spec.loader.exec_module(real)
STATS = {"p50": 1.5, "p90": 1.7, "p99": 1.9, "mean": 1.55, "std": 0.1, "min": 1.4, "max": 2.0, "n": 50}


def build_engine(onnx_path, plan, engine_path, timing_cache):
    engine_path.write_bytes(b"stand-in engine of " + onnx_path.name.encode())
    return {"build_s": 12.0, "engine_bytes": engine_path.stat().st_size}


def benchmark_engine(engine, plan, batch_sizes):
    return [{"batch_size": b, "latency_ms": STATS, "compute_ms": STATS, "h2d_ms": STATS, "d2h_ms": STATS,
             "throughput_per_s": b * 1e3 / 1.5} for b in batch_sizes]


real.compute_capability = lambda device=0: "87"
real.build_engine, real.benchmark_engine = build_engine, benchmark_engine
raise SystemExit(real.main())
'''

# trtexec's TensorRT 10 summary lines; the median grows with the batch given in --shapes.
STAND_IN_TRTEXEC = '''#!/bin/sh
batch=1
for arg in "$@"; do
  case "$arg" in --shapes=*) batch=$(echo "${arg#*:}" | cut -dx -f1) ;; esac
done
median=$(awk "BEGIN {print $batch * 1.25}")
echo "&&&& RUNNING TensorRT.trtexec [TensorRT v100300] # trtexec $*"
echo "[08/01/2025-10:00:00] [I] === Performance summary ==="
echo "[08/01/2025-10:00:00] [I] H2D Latency: min = 0.01 ms, max = 0.02 ms, mean = 0.015 ms, median = 0.011 ms"
echo "[08/01/2025-10:00:00] [I] Latency: min = 1.0 ms, max = 9.0 ms, mean = $median ms, median = $median ms, \
percentile(90%) = 9.0 ms, percentile(95%) = 9.0 ms, percentile(99%) = 9.0 ms"
echo "[08/01/2025-10:00:00] [I] GPU Compute Time: min = 0.9 ms, max = 8.0 ms, mean = 1.0 ms, median = 0.97 ms"
echo "&&&& PASSED TensorRT.trtexec"
'''


def device_bundle_folder(folder: Path) -> Path:
    folder.mkdir(parents=True)
    model = write_tiny_onnx(folder / "model.int8.qdq.onnx")
    plan = {"model": model.name, "model_sha256": hashlib.sha256(model.read_bytes()).hexdigest(),
            "inputs": [{"name": "x", "dtype": "float32", "sample_shape": [4],
                        "profile": {"min": [1, 4], "opt": [1, 4], "max": [8, 4]}}],
            "benchmark": {"warmup": 5, "iterations": 50, "batch_sizes": [1]}}
    (folder / "bundle.json").write_text(json.dumps(plan))
    (folder / SCRIPT_NAME).write_text(STAND_IN_SCRIPT)
    shutil.copy2(device_script.__file__, folder / "device_script_real.py")
    return folder


@pytest.fixture
def bundle(tmp_path) -> Path:
    """A run bundle holding one Jetson device bundle (the artifact a TensorRT target ships)."""
    source = device_bundle_folder(tmp_path / "made" / "jetson-bundle")
    return write_bundle(tmp_path / "bundle", {ARTIFACT_ID: source}, kind="tensorrt-device-bundle",
                        backend="tensorrt", target=JETSON)


def device_bundle(bundle: Path) -> Path:
    return bundle / "artifacts" / ARTIFACT_ID / "jetson-bundle"


@pytest.fixture(scope="module")
def trt_python(tmp_path_factory) -> Path:
    python = device_venv(tmp_path_factory.mktemp("trt-venv"), ("numpy", "onnxruntime"))
    stand_in = _site_packages(python.parent.parent) / "tensorrt"
    stand_in.mkdir()
    (stand_in / "__init__.py").write_text('__version__ = "10.3.0"\n')
    return python


@pytest.fixture(scope="module")
def trtexec(tmp_path_factory) -> Path:
    tool = tmp_path_factory.mktemp("jetson-tools") / "trtexec"
    tool.write_text(STAND_IN_TRTEXEC)
    tool.chmod(0o755)
    return tool


@pytest.fixture(scope="module")
def jetson_server(sshd_binary, client_key, trtexec, tmp_path_factory):
    """The loopback sshd with the stand-in trtexec on its sessions' PATH."""
    started = start_sshd(tmp_path_factory.mktemp("jetson-sshd"), [client_key], sshd_binary,
                         f"SetEnv PATH={trtexec.parent}:/usr/local/bin:/usr/bin:/bin\n")
    yield started
    started.stop()


def jetson_devices(server, client_key, python: Path, tmp_path: Path) -> Path:
    return write_devices(tmp_path / "devices.yaml", {"jetson": device_entry(
        server, client_key, python, tmp_path / "w", tmp_path / f"known_hosts-{server.port}", targets=[JETSON])})


def test_board_without_tensorrt_is_told_what_to_install(server, client_key, device_python, bundle, tmp_path, capsys):
    devices = jetson_devices(server, client_key, device_python, tmp_path)
    assert main(["benchmark", "--device", "jetson", "--devices", str(devices), str(device_bundle(bundle))]) == 3
    err = capsys.readouterr().err
    assert "device 'jetson'" in err and "tensorrt does not import" in err and "-m pip install tensorrt" in err


def test_engine_timings_and_trtexec_figures_come_back_into_the_bundle(jetson_server, trtexec, client_key, trt_python,
                                                                     bundle, tmp_path, capsys):
    devices = jetson_devices(jetson_server, client_key, trt_python, tmp_path)
    tree_before = sha256_tree(device_bundle(bundle))
    code = main(["benchmark", "--device", "jetson", "--devices", str(devices), "--bundle", str(bundle),
                 "--batch-sizes", "1,8"])
    assert code == 0, capsys.readouterr().err
    plan = json.loads((device_bundle(bundle) / "bundle.json").read_text())
    engine = device_script.engine_file_name(plan["model"], plan["model_sha256"], "87", "10.3.0")
    rows = read(bundle, "report.json")["device_results"]
    assert [(r["batch_size"], r["trtexec_ms"]) for r in rows] == [(1, 1.25), (8, 10.0)]
    for row in rows:
        assert row["backend"] == "tensorrt" and row["device"] == "jetson" and row["artifact_id"] == ARTIFACT_ID
        assert row["sha256"] == plan["model_sha256"] and row["latency_ms"]["p50"] == 1.5 and row["threads"] is None
        assert row["cuda_event_ms"]["compute"]["p50"] == 1.5
        assert row["tensorrt"]["engine"] == engine and row["tensorrt"]["compute_capability"] == "87"
        assert row["tensorrt"]["trtexec"] == {"path": str(trtexec), "note": None}
        # Power mode and clock locks travel in each row's fingerprint (None: the loopback is no Jetson).
        assert "jetson" in row["fingerprint"] and row["fingerprint"]["clock_state"]
    kept = f"devices/jetson/{ARTIFACT_ID}"
    assert rows[0]["tensorrt"]["files"] == [f"{kept}/{engine}", f"{kept}/benchmark.sm87.trt10.3.0.json"]
    assert (bundle / kept / engine).read_bytes() == b"stand-in engine of model.int8.qdq.onnx"
    timings = json.loads((bundle / kept / "benchmark.sm87.trt10.3.0.json").read_text())
    assert timings["engine"] == engine and [r["trtexec_ms"] for r in timings["results"]] == [1.25, 10.0]
    assert read(bundle, "manifest.json")["device_rows"][0]["files"] == sorted(rows[0]["tensorrt"]["files"])
    assert "| jetson | jetson-orin-tensorrt |" in (bundle / "report.md").read_text()
    assert sha256_tree(device_bundle(bundle)) == tree_before  # the shipped folder itself is untouched


def test_without_a_bundle_the_engine_comes_back_beside_the_results(server, client_key, trt_python, bundle, tmp_path,
                                                                   capsys):
    devices = jetson_devices(server, client_key, trt_python, tmp_path)
    out = tmp_path / "jetson.json"
    code = main(["benchmark", "--device", "jetson", "--devices", str(devices), str(device_bundle(bundle)),
                 "--batch-sizes", "1,8", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    (result,) = json.loads(out.read_text())["results"]
    assert result["backend"] == "tensorrt" and result["variant"] == "tensorrt" and result["device"] == "jetson"
    assert [c["batch_size"] for c in result["configs"]] == [1, 8]
    assert result["configs"][0]["latency_ms"]["p50"] == 1.5 and "compute_ms" in result["configs"][0]
    # No trtexec on this device's PATH: no figure, and the reason.
    assert [c["trtexec_ms"] for c in result["configs"]] == [None, None]
    assert result["tensorrt_bundle"]["trtexec"]["note"].startswith("trtexec not found")
    engine = result["tensorrt_bundle"]["engine"]
    assert result["tensorrt_bundle"]["files"] == [str(tmp_path / "jetson-engines" / "1-jetson-bundle" / name)
                                                  for name in (engine, "benchmark.sm87.trt10.3.0.json")]
    assert (tmp_path / "jetson-engines" / "1-jetson-bundle" / engine).is_file()
    assert not list(device_bundle(bundle).glob("benchmark.sm*.json"))  # nothing written into the bundle
