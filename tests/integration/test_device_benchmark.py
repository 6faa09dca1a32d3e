"""The mobile target through the whole pipeline, and `edge-pipeline benchmark` as it runs on a
device: only numpy and the runtime importable (torch and the export tooling blocked)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edge_pipeline import api
from edge_pipeline.cli.main import main
from edge_pipeline.testing.tiny import labelled_arrays
from tests.conftest import REPO, write_recipe

# Everything a device install lacks: torch and the export/quantization tooling.
EXPORT_TOOLING = ("torch", "onnx", "onnxscript", "onnxslim", "nncf", "torch_pruning", "sklearn", "safetensors")

SITECUSTOMIZE = """
import importlib.abc, os, sys
_BLOCKED = set(os.environ["EP_TEST_BLOCKED"].split(","))
_LOG = os.environ["EP_TEST_BLOCK_LOG"]
class _Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in _BLOCKED:
            with open(_LOG, "a") as log:
                log.write(name + "\\n")
            raise ModuleNotFoundError(f"blocked for this test: {name}", name=name)
sys.meta_path.insert(0, _Blocker())
"""


def run_blocked_cli(tmp_path: Path, blocked: tuple[str, ...],
                    *argv: str) -> tuple[subprocess.CompletedProcess, list[str]]:
    """`edge-pipeline ...` in a fresh interpreter (and its benchmark workers) where ``blocked`` cannot import."""
    site = tmp_path / "blocker"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(SITECUSTOMIZE)
    log = tmp_path / "blocked-imports.log"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(REPO)]),
           "EP_TEST_BLOCKED": ",".join(blocked), "EP_TEST_BLOCK_LOG": str(log)}
    proc = subprocess.run([sys.executable, "-m", "edge_pipeline.cli.main", *argv], env=env, capture_output=True,
                          text=True)
    attempted = log.read_text().split() if log.exists() else []
    return proc, attempted


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("device-bench")
    data = {}
    for role, seed in (("calibration", 1), ("eval", 2)):
        x, y = labelled_arrays(48, seed=seed)
        data[role] = root / f"{role}.npz"
        np.savez(data[role], x=x, y=y)
    recipe = write_recipe(root / "recipe.yaml", {
        "metadata": {"name": "tiny-mobile"},
        "model": {"factory": "edge_pipeline.testing.tiny:tiny_residual_net"},
        "input": {"name": "input", "shape": [1, 3, 8, 8]},
        "data": {"calibration": {"path": str(data["calibration"])}, "eval": {"path": str(data["eval"])}},
        "stages": ["export", "quantize", "benchmark"],
        "targets": ["x86-cpu-onnxruntime"],
        "quantize": {"samples": 32},
        "benchmark": {"warmup": 2, "iterations": 10},
    })
    # The same override the README gives for adding the mobile target to a run.
    return api.run(recipe, root / "bundle", overrides=["targets=[x86-cpu-onnxruntime,android-arm64-onnxruntime]"])


def bundle_files(bundle: Path, kind: str) -> list[Path]:
    """Files of ``kind``, once each (targets sharing the FP32 ONNX share its file)."""
    manifest = json.loads((bundle / "manifest.json").read_text())
    return list(dict.fromkeys(bundle / a["path"] for a in manifest["artifacts"] if a["kind"] == kind))


def test_run_bundles_the_mobile_artifacts_and_reports_sizes_and_eps(bundle):
    ort_models = bundle_files(bundle, "ort")
    assert sorted(p.name for p in ort_models) == ["model.int8.ort", "model.int8.with_runtime_opt.ort"]
    assert all(p.is_file() for p in ort_models)
    configs = bundle_files(bundle, "ort-required-operators")
    assert {p.name for p in configs} == {"model.int8.required_operators.config",
                                         "model.int8.required_operators.with_runtime_opt.config"}
    assert all(p.is_file() for p in configs + bundle_files(bundle, "ort-ep-usability"))

    report = json.loads((bundle / "report.json").read_text())
    (mobile,) = report["mobile"]
    assert mobile["target"] == "android-arm64-onnxruntime"
    assert all(f["size_bytes"] > 0 for f in mobile["files"])
    assert set(mobile["execution_providers"]) == {"nnapi", "xnnpack", "coreml"}
    assert isinstance(mobile["usable_execution_providers"], list)
    markdown = (bundle / "report.md").read_text()
    assert "ONNX Runtime Mobile: teacher on android-arm64-onnxruntime" in markdown
    assert "Execution providers that can take this model" in markdown


def test_arm_rows_timed_here_are_labelled_host_measurements(bundle):
    report = json.loads((bundle / "report.json").read_text())
    scopes = {(r["target"], r["measured_on"]) for r in report["results"]}
    assert scopes == {("x86-cpu-onnxruntime", "device"), ("android-arm64-onnxruntime", "host")}
    assert any("host measurements" in note for note in report["notes"])
    assert "(host)" in (bundle / "report.md").read_text()


def test_files_for_the_devices_kernels_are_left_to_the_device_unless_asked(bundle, tmp_path):
    report = json.loads((bundle / "report.json").read_text())
    assert not any(r["artifact_id"].endswith(("int8-ort-fixed", "int8-ort-runtime")) for r in report["results"])
    (note,) = [n for n in report["notes"] if "laid out for the device's kernels" in n]
    assert "model.int8.ort" in note and "model.int8.with_runtime_opt.ort" in note
    assert "device_formats_on_host: time" in note

    # Asked for, they are timed here as host rows; export and quantize come from the cache.
    timed = api.run(bundle.parent / "recipe.yaml", tmp_path / "bundle", overrides=[
        "targets=[x86-cpu-onnxruntime,android-arm64-onnxruntime]", "benchmark.device_formats_on_host=time"])
    rows = json.loads((timed / "report.json").read_text())["results"]
    ort_rows = [r for r in rows if r["artifact_id"].endswith(("int8-ort-fixed", "int8-ort-runtime"))]
    assert len(ort_rows) == 2 and {r["measured_on"] for r in ort_rows} == {"host"}


@pytest.fixture(scope="module")
def openvino_ir(bundle, tmp_path_factory) -> Path | None:
    """An OpenVINO IR of the bundle's FP32 model, when openvino is installed."""
    try:
        import openvino as ov
    except ImportError:
        return None
    (fp32,) = [p for p in bundle_files(bundle, "onnx") if p.name.endswith("fp32.onnx")]
    xml = tmp_path_factory.mktemp("ir") / "model.fp32.xml"
    ov.save_model(ov.convert_model(str(fp32)), str(xml), compress_to_fp16=False)
    return xml


@pytest.fixture(scope="module")
def torch_free_result(bundle, openvino_ir, tmp_path_factory) -> tuple[Path, list[Path], list[str]]:
    tmp = tmp_path_factory.mktemp("torch-free")
    onnx_files = [p for p in bundle_files(bundle, "onnx") if "fp32" in p.name or "android" in str(p)]
    files = onnx_files + bundle_files(bundle, "ort") + ([openvino_ir] if openvino_ir else [])
    out = tmp / "device.json"
    proc, attempted = run_blocked_cli(tmp, EXPORT_TOOLING, "benchmark", *map(str, files), "--threads", "1",
                                      "--warmup", "auto", "--iterations", "10", "--rounds", "2", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    return out, files, attempted


def test_benchmark_runs_without_torch_or_export_tooling(torch_free_result):
    out, files, attempted = torch_free_result
    assert not [name for name in attempted if name.split(".")[0] == "torch"], f"tried to import: {attempted}"
    result = json.loads(out.read_text())
    assert result["kind"] == "edge_pipeline.benchmark"
    host = result["host"]
    assert host["cpu_model"] and host["logical_cpus"] and "onnxruntime" in host["runtime_versions"]
    assert "cpu_frequency" in host and "jetson" in host
    assert [r["artifact"] for r in result["results"]] == [str(f) for f in files]
    for entry in result["results"]:
        assert entry["process_cold_start"]["load_s"] > 0
        (config,) = entry["configs"]
        assert config["latency_ms"]["n"] == 20 and config["warmup"]["mode"] == "auto"
        assert [r["n"] for r in config["rounds"]] == [10, 10]  # two fresh processes, samples pooled
        if entry["backend"] == "openvino":  # OpenVINO's own timer of each call is the p50, inside our clock
            assert config["latency_clock"] == "runtime"
            assert all(0 < r["p50"] <= r["call_clock_p50"] for r in config["rounds"])
        else:
            assert config["latency_clock"] == "call"
    assert len(out.with_suffix(".csv").read_text().strip().splitlines()) == len(files) + 1


def test_compare_prints_per_configuration_ratios(torch_free_result, tmp_path, capsys):
    out, files, _ = torch_free_result
    slower = json.loads(out.read_text())
    for entry in slower["results"]:
        for config in entry["configs"]:
            lat = config["latency_ms"]
            lat["p50"] *= 2
            lat["median_ci95"] = [v * 2 for v in lat["median_ci95"]]
    candidate = tmp_path / "slower.json"
    candidate.write_text(json.dumps(slower))
    assert main(["benchmark", "--compare", str(out), str(candidate)]) == 0
    printed = capsys.readouterr().out
    assert printed.count(" 2.000 ") == len(files)
    assert "model.int8.with_runtime_opt.ort" in printed


def test_batch_size_a_fixed_shape_refuses_is_skipped_and_the_rest_kept(bundle, capsys):
    ort_model = next(p for p in bundle_files(bundle, "ort") if p.name == "model.int8.ort")
    code = main(["benchmark", str(ort_model), "--batch-sizes", "1,4", "--iterations", "5", "--warmup", "1"])
    out = capsys.readouterr().out
    assert code == 0
    assert "batch 1  threads 2  p50" in out
    assert "batch 4  threads 2  skipped: model batch is fixed at 1, so batch size 4 was not timed" in out
    # Only when nothing at all could be timed is it an error.
    code = main(["benchmark", str(ort_model), "--batch-sizes", "4", "--iterations", "5", "--warmup", "1"])
    err = capsys.readouterr().err
    assert code == 2 and "nothing could be timed" in err and "fixed at 1" in err


def test_a_file_the_runtime_cannot_load_keeps_the_others_timings(bundle, tmp_path, capsys):
    good = next(p for p in bundle_files(bundle, "ort") if p.name == "model.int8.ort")
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a model")
    out = tmp_path / "timings.json"
    code = main(["benchmark", str(broken), str(good), "--iterations", "5", "--warmup", "1", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    bad, kept = json.loads(out.read_text())["results"]
    assert bad["configs"][0]["skipped"].startswith("could not be timed: benchmark of") and "error" in bad
    assert "latency_ms" in kept["configs"][0] and len(kept["sha256"]) == 64
    capsys.readouterr()
    assert main(["benchmark", str(broken), "--iterations", "5"]) != 0  # nothing timed: the load error itself
    assert "ONNX Runtime cannot load" in capsys.readouterr().err


def test_unrecognised_artifact_format_names_the_file_and_formats(tmp_path, capsys):
    model = tmp_path / "model.tflite"
    model.write_bytes(b"TFL3")
    assert main(["benchmark", str(model)]) == 2
    err = capsys.readouterr().err
    assert str(model) in err and "'.tflite' is not a recognised artifact format" in err and ".ort" in err


def test_missing_runtime_names_the_device_extra(bundle, tmp_path):
    ort_model = bundle_files(bundle, "ort")[0]
    proc, _ = run_blocked_cli(tmp_path, ("onnxruntime", *EXPORT_TOOLING), "benchmark", str(ort_model),
                              "--iterations", "5")
    assert proc.returncode == 3, proc.stderr
    assert "pip install 'edge-pipeline[device-onnxruntime]'" in proc.stderr and ort_model.name in proc.stderr


def test_missing_file_and_ir_without_weights_are_named(tmp_path, capsys):
    assert main(["benchmark", str(tmp_path / "gone.onnx")]) == 2
    assert "gone.onnx does not exist" in capsys.readouterr().err
    ir = tmp_path / "model.xml"
    ir.write_text("<net/>")
    assert main(["benchmark", str(ir)]) == 2
    assert "model.bin must sit beside it" in capsys.readouterr().err
