"""Benchmark result files: CSV flattening and the per-configuration comparison."""

import json
from pathlib import Path

import pytest

from edge_pipeline.benchmarking.results import CSV_COLUMNS, compare, load_result_file, render_comparison, to_csv
from edge_pipeline.errors import ConfigError


def result_file(p50_by_config: dict, cpu: str = "cpu-a", folder: str = "/a") -> dict:
    configs = []
    for (batch, threads), p50 in p50_by_config.items():
        configs.append({
            "batch_size": batch, "threads": threads, "streams": None, "throughput_per_s": batch * 1e3 / p50,
            "latency_ms": {"p50": p50, "p90": p50, "p99": p50, "mean": p50, "std": 0.0, "mad": 0.0,
                           "median_ci95": [p50 * 0.99, p50 * 1.01], "outliers": 0, "n": 50},
            "warmup": {"mode": "fixed", "calls": 5}, "load_s": 0.01, "first_inference_ms": 2 * p50,
        })
    configs.append({"batch_size": 8, "threads": 1, "streams": None, "skipped": "model batch is fixed at 1"})
    return {"schema_version": 2, "kind": "edge_pipeline.benchmark", "host": {"cpu_model": cpu, "hostname": "h"},
            "results": [{"artifact": f"{folder}/model.int8.ort", "backend": "onnxruntime", "configs": configs}]}


def test_csv_has_a_row_per_configuration_skipped_ones_included():
    text = to_csv(result_file({(1, 1): 2.0, (1, 2): 1.0}))
    lines = text.strip().splitlines()
    assert lines[0].split(",") == list(CSV_COLUMNS)
    assert len(lines) == 4 and "model batch is fixed at 1" in lines[-1]


def test_compare_matches_by_file_name_and_configuration():
    a = result_file({(1, 1): 2.0, (1, 2): 1.0}, "x86", "/bundle/a")
    b = result_file({(1, 1): 8.0, (1, 4): 3.0}, "jetson", "/home/me/bundle/a")
    comparison = compare(a, b)
    assert [(r["threads"], r["latency_ratio"], r["speedup"]) for r in comparison["matched"]] == [(1, 4.0, 0.25)]
    assert comparison["only_in_baseline"] == [["model.int8.ort", "onnxruntime", "default", 1, 2, None]]
    assert comparison["hosts"] == ["x86", "jetson"]
    text = render_comparison(comparison, ("a.json", "b.json"))
    assert "4.000" in text and "only in A: 1" in text


def with_sha(report: dict, sha: str, name: str | None = None) -> dict:
    for result in report["results"]:
        result["sha256"] = sha
        if name:
            result["artifact"] = str(Path(result["artifact"]).with_name(name))
    return report


def test_compare_matches_by_content_when_both_files_carry_sha256():
    # Every target's INT8 is model.int8.onnx: by name alone, two different models would pair up.
    a = with_sha(result_file({(1, 1): 2.0}, folder="/bundle/android"), "aa" * 32)
    other_model = with_sha(result_file({(1, 1): 8.0}, folder="/bundle/ios"), "bb" * 32)
    renamed_copy = with_sha(result_file({(1, 1): 4.0}, folder="/device"), "aa" * 32, name="copy.ort")
    assert compare(a, other_model)["matched"] == []
    comparison = compare(a, renamed_copy)
    assert comparison["matched_by"] == "content (sha256)"
    assert [(r["artifact"], r["candidate_artifact"], r["latency_ratio"]) for r in comparison["matched"]] == [
        ("model.int8.ort", "copy.ort", 2.0)]
    assert "model.int8.ort = copy.ort" in render_comparison(comparison, ("a.json", "b.json"))
    assert "sha256" in to_csv(a).splitlines()[0] and "aa" * 32 in to_csv(a)


def test_load_refuses_files_that_are_not_results(tmp_path):
    other = tmp_path / "report.json"
    other.write_text(json.dumps({"results": []}))
    with pytest.raises(ConfigError, match="is not an `edge-pipeline benchmark` result"):
        load_result_file(other)
    with pytest.raises(ConfigError, match="does not exist"):
        load_result_file(tmp_path / "missing.json")
