"""The recipe's ``benchmark.remote``: after the run, the bundle's artifacts timed on the loopback
"device" and attached as device rows, measured anew on every run (never taken from the cache)."""

from __future__ import annotations

import json

import pytest

from edge_pipeline.cli.main import main
from tests.conftest import tiny_recipe_dict, write_recipe
from tests.remote.conftest import device_entry, write_devices

pytestmark = pytest.mark.slow

ORT = "x86-cpu-onnxruntime"


def remote_recipe(tmp_path, tiny_data, devices: list[str]):
    return write_recipe(tmp_path / "recipe.yaml", tiny_recipe_dict(
        tiny_data, stages=["export", "quantize", "benchmark", "package"],
        benchmark={"warmup": 2, "iterations": 10, "remote": {"devices": devices, "devices_file": "devices.yaml"}}))


def test_device_rows_are_attached_after_the_run_and_never_cached(server, client_key, device_python, tiny_data,
                                                                  tmp_path, capsys):
    write_devices(tmp_path / "devices.yaml", {"loop": device_entry(
        server, client_key, device_python, tmp_path / "w", tmp_path / "known_hosts", targets=[ORT])})
    recipe, bundle = remote_recipe(tmp_path, tiny_data, ["loop"]), tmp_path / "bundle"
    assert main(["run", str(recipe), "--out", str(bundle)]) == 0, capsys.readouterr().err
    report = json.loads((bundle / "report.json").read_text())
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert report["results"] and all(row.get("device") is None for row in report["results"])
    rows = report["device_results"]
    timed = {a["id"]: a for a in manifest["artifacts"] if a["target"] == ORT and a["kind"] == "onnx"}
    assert {row["artifact_id"] for row in rows} == set(timed)
    for row in rows:
        assert row["device"] == "loop" and row["sha256"] == timed[row["artifact_id"]]["sha256"]
        # The run's benchmark settings: the recipe's iterations, the target's rounds (3) and threads.
        assert row["latency_ms"]["n"] == 30 and len(row["round_p50_ms"]) == 3 and row["threads"] == 2
    assert [r["device"] for r in manifest["device_rows"]] == ["loop"]
    capsys.readouterr()
    # Again: the local timings come from the cache, the device's are taken anew.
    assert main(["run", str(recipe), "--out", str(bundle)]) == 0
    err = capsys.readouterr().err
    assert "re-using cached results" in err and "device loop: file 1, round 1 timed" in err
    again = json.loads((bundle / "report.json").read_text())["device_results"]
    assert [r["samples_ms"] for r in again] != [r["samples_ms"] for r in rows]


def test_an_unknown_device_fails_before_any_stage_runs(tiny_data, tmp_path, capsys):
    write_devices(tmp_path / "devices.yaml", {"loop": {"host": "127.0.0.1", "targets": [ORT]}})
    recipe = remote_recipe(tmp_path, tiny_data, ["jetson"])
    assert main(["run", str(recipe), "--out", str(tmp_path / "bundle")]) == 2
    assert "device 'jetson' is not in" in capsys.readouterr().err
    assert not (tmp_path / "bundle").exists()
