"""`benchmark --device NAME --bundle B` against the loopback sshd: the bundle's artifacts timed on the
"device", the rows attached to its report as device rows (never mixed with the host rows), the
manifest recording where they came from; then `compare` gating device rows against device rows."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from edge_pipeline.benchmarking.timing import summarize
from edge_pipeline.cli.main import main
from tests.remote.bundles import ORT, REPORT_FILES, read, write_bundle
from tests.remote.conftest import device_entry, write_devices, write_tiny_onnx

pytestmark = pytest.mark.slow

FAST = ["--iterations", "5", "--warmup", "1", "--threads", "1"]


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("models")
    return {f"net/{ORT}/fp32": write_tiny_onnx(folder / "model.onnx", 0),
            f"net/{ORT}/int8": write_tiny_onnx(folder / "model.int8.onnx", 1, size=8)}


@pytest.fixture
def devices(server, client_key, device_python, tmp_path) -> Path:
    known = tmp_path / "known_hosts"
    return write_devices(tmp_path / "devices.yaml", {
        name: device_entry(server, client_key, device_python, tmp_path / name, known, targets=[ORT])
        for name in ("loop", "other")})


def attach(bundle: Path, devices: Path, *extra: str, device: str = "loop") -> int:
    return main(["benchmark", "--device", device, "--devices", str(devices), "--bundle", str(bundle), *FAST, *extra])


def test_device_rows_are_attached_apart_from_the_host_rows(models, devices, client_key, tmp_path, capsys):
    bundle = write_bundle(tmp_path / "bundle", models)
    host_rows = read(bundle, "report.json")["results"]
    assert attach(bundle, devices, "--batch-sizes", "1,2") == 0, capsys.readouterr().err
    report, manifest = read(bundle, "report.json"), read(bundle, "manifest.json")
    assert report["results"] == host_rows
    rows = report["device_results"]
    assert [(r["artifact_id"], r["batch_size"]) for r in rows] == [(a, b) for a in models for b in (1, 2)]
    by_id = {a["id"]: a for a in manifest["artifacts"]}
    for row in rows:
        assert row["device"] == "loop" and row["sha256"] == by_id[row["artifact_id"]]["sha256"]
        assert row["artifact"] == by_id[row["artifact_id"]]["path"] and row["target"] == ORT
        assert row["latency_ms"]["n"] == 5 and row["measured_at"] and not row["partial"]
        assert row["fingerprint"]["cpu_model"] and "onnxruntime" in row["runtime_versions"]
    (record,) = manifest["device_rows"]
    assert record["device"] == "loop" and record["host"] == "127.0.0.1" and record["key_file"] == str(client_key)
    assert record["fingerprint"]["cpu_model"] and record["rows"] == 4
    assert "PRIVATE KEY" not in (bundle / "manifest.json").read_text()
    assert {name: manifest["files"][name] for name in REPORT_FILES} == {
        name: hashlib.sha256((bundle / name).read_bytes()).hexdigest() for name in REPORT_FILES}
    markdown = (bundle / "report.md").read_text()
    assert "## Device rows" in markdown and "| loop | x86-cpu-onnxruntime | net/x86-cpu-onnxruntime/fp32 |" in markdown
    assert 'id="device-rows"' in (bundle / "report.html").read_text()
    assert (bundle / ".edge-pipeline-bundle").is_file()
    assert not [p.name for p in bundle.parent.iterdir() if p.name.startswith(".bundle")]  # no temp sibling left


def test_attaching_again_replaces_that_device_rows_only(models, devices, tmp_path, capsys):
    bundle = write_bundle(tmp_path / "bundle", models)
    assert attach(bundle, devices) == 0
    assert attach(bundle, devices, device="other") == 0
    int8 = bundle / "artifacts" / f"net/{ORT}/int8" / "model.int8.onnx"
    assert attach(bundle, devices, str(int8), "--batch-sizes", "2") == 0, capsys.readouterr().err
    rows = read(bundle, "report.json")["device_results"]
    assert sorted((r["device"], r["artifact_id"], r["batch_size"]) for r in rows) == [
        ("loop", f"net/{ORT}/int8", 2), ("other", f"net/{ORT}/fp32", 1), ("other", f"net/{ORT}/int8", 1)]
    assert [r["device"] for r in read(bundle, "manifest.json")["device_rows"]] == ["other", "loop"]


def test_a_changed_artifact_is_refused_before_anything_is_pushed(models, devices, tmp_path, capsys):
    bundle = write_bundle(tmp_path / "bundle", models)
    before = (bundle / "report.json").read_text()
    (bundle / "artifacts" / f"net/{ORT}/int8" / "model.int8.onnx").write_bytes(b"not the model")
    assert attach(bundle, devices) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "model.int8.onnx does not match the sha256 manifest.json records" in err
    assert (bundle / "report.json").read_text() == before and not (tmp_path / "loop").exists()


def test_only_a_bundle_edge_pipeline_wrote_takes_rows(models, devices, tmp_path, capsys):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "notes.txt").write_text("the user's")
    assert attach(folder, devices) == 9
    assert "is not a bundle edge-pipeline wrote" in capsys.readouterr().err
    assert sorted(p.name for p in folder.iterdir()) == ["notes.txt"]


def test_a_device_that_runs_out_of_time_keeps_its_rows_marked_partial(server, client_key, device_python, models,
                                                                      tmp_path, capsys):
    devices = write_devices(tmp_path / "devices.yaml", {"loop": device_entry(
        server, client_key, device_python, tmp_path / "w", tmp_path / "known_hosts", targets=[ORT], budget_s=6)})
    bundle = write_bundle(tmp_path / "bundle", models)
    assert attach(bundle, devices, "--rounds", "100") == 10
    assert "ran past its time budget" in capsys.readouterr().err
    rows = read(bundle, "report.json")["device_results"]
    assert rows and all("time budget" in r["partial"] for r in rows)
    assert any(r["latency_ms"] for r in rows)
    assert "time budget" in read(bundle, "manifest.json")["device_rows"][0]["partial"]


def regressed(bundle: Path, factor: float) -> None:
    """The new run's device rows, re-timed slower (what a regression on the board looks like)."""
    report = read(bundle, "report.json")
    for row in report["device_results"]:
        row["samples_ms"] = [s * factor for s in row["samples_ms"]]
        row["latency_ms"] = summarize(row["samples_ms"])
    (bundle / "report.json").write_text(json.dumps(report))


def test_compare_gates_device_rows_against_device_rows(models, devices, tmp_path, capsys):
    baseline = write_bundle(tmp_path / "baseline", models)
    assert attach(baseline, devices, "--iterations", "30") == 0
    same = tmp_path / "same"
    shutil.copytree(baseline, same)
    capsys.readouterr()
    assert main(["compare", str(baseline), str(same)]) == 0
    out = capsys.readouterr().out
    assert "device rows: 0 failed, 2 passed" in out and "release gates PASSED" in out
    slower = tmp_path / "slower"
    shutil.copytree(baseline, slower)
    regressed(slower, 3.0)
    assert main(["compare", str(baseline), str(slower)]) == 5
    out = capsys.readouterr().out
    failed = [line for line in out.splitlines() if line.startswith("FAIL")]
    assert len(failed) == 2 and all("device-latency device loop: net/x86-cpu-onnxruntime/" in f for f in failed)
    assert "device rows: 2 failed, 0 passed" in out
    # The host rows are the same in both bundles: none of their gates failed.
    assert not [line for line in failed if "device-latency" not in line]


def test_the_current_folder_is_not_swapped_out_from_under_the_shell(models, devices, tmp_path, capsys, monkeypatch):
    bundle = write_bundle(tmp_path / "bundle", models)
    monkeypatch.chdir(bundle)
    assert attach(Path("."), devices) == 9
    assert "is the current folder or holds it" in capsys.readouterr().err
    assert "device_results" not in read(bundle, "report.json")
