"""Device rows from a device's result: one per configuration, the board's fingerprint (a Jetson's power
mode and clock locks) and trtexec's figure on each; shown apart from the results, with the same
columns in report.md and report.html; attaching a device again replaces only that device's rows."""

from __future__ import annotations

import re

import pytest

from edge_pipeline.benchmarking.host import fingerprint
from edge_pipeline.benchmarking.timing import summarize
from edge_pipeline.reports.device_rows import (
    ArtifactIdentity,
    DeviceRow,
    board_state,
    merged,
    report_device_rows,
    rows_from_result,
)
from edge_pipeline.reports.gates.errors import ReportInputError
from edge_pipeline.reports.html.render import render_html
from edge_pipeline.reports.markdown import render_markdown
from edge_pipeline.reports.tables import DEVICE_COLUMNS
from tests.benchmarking.test_host import fake_cpus, write
from tests.reports.report_factory import default_rows, make_report, timings

BUNDLE_PATH = "artifacts/net/jetson-orin-tensorrt/int8-jetson-bundle/jetson-bundle"


def jetson_fingerprint(root) -> dict:
    write(root, "proc/cpuinfo", "model name\t: ARMv8 Processor rev 1 (v8l)\nFeatures\t: fp asimd\n")
    write(root, "proc/device-tree/model", "NVIDIA Jetson AGX Orin\x00")
    write(root, "etc/nv_tegra_release", "# R36 (release), REVISION: 4.0\n")
    write(root, "var/lib/nvpmodel/status", "pmode:0000\n")
    for name in ("min_freq", "max_freq", "cur_freq"):
        write(root, f"sys/class/devfreq/17000000.ga10b/{name}", "1300000000")
    fake_cpus(root, "performance", 2201600, 2201600)
    return fingerprint(root, run_tools=False)


def device_result(host: dict, partial: str | None = None) -> dict:
    stats = summarize([1.5, 1.6, 1.4, 1.5, 1.7])
    result = {
        "artifact": f"/tmp/b/{BUNDLE_PATH}", "backend": "tensorrt", "variant": "tensorrt", "sha256": "ab" * 32,
        "device": "orin", "measured_at": "2026-01-02T03:04:05+00:00", "versions": {"tensorrt": "10.3.0"},
        "configs": [{"batch_size": 1, "threads": None, "streams": None, "latency_ms": stats, "throughput_per_s": 666.0,
                     "trtexec_ms": 1.42, "compute_ms": stats},
                    {"batch_size": 8, "threads": None, "streams": None, "skipped": "not timed: link lost"}],
        "tensorrt_bundle": {"engine": "model.int8.qdq.abababab.sm87.trt10.3.0.engine", "compute_capability": "87"},
    }
    report = {"host": host, "results": [result]}
    if partial:
        report["partial"] = {"reason": partial}
    return report


def test_rows_carry_the_board_state_and_trtexec(tmp_path):
    identity = ArtifactIdentity(BUNDLE_PATH, "net/jetson-orin-tensorrt/int8-jetson-bundle", "int8",
                                "jetson-orin-tensorrt")
    rows = rows_from_result(device_result(jetson_fingerprint(tmp_path), "the link dropped"),
                            {f"/tmp/b/{BUNDLE_PATH}": identity})
    timed, skipped = rows
    assert timed.artifact == BUNDLE_PATH and timed.artifact_id == identity.artifact_id and timed.threads is None
    assert timed.trtexec_ms == 1.42 and timed.cuda_event_ms["compute"]["p50"] == 1.5
    assert timed.runtime_versions == {"tensorrt": "10.3.0"} and timed.measured_at.startswith("2026-01-02")
    assert timed.fingerprint["jetson"]["power_mode"]["id"] == 0
    assert board_state(timed.fingerprint) == "nvpmodel (mode 0), GPU clock locked, CPU clocks locked"
    assert skipped.latency_ms is None and skipped.skipped == "not timed: link lost"
    assert timed.partial == skipped.partial == "the link dropped"


def device_rows(devices=("orin",), seed=0) -> list[DeviceRow]:
    rows = []
    board = {"cpu_model": "Cortex-A78AE", "clock_state": "locked"}
    for offset, device in enumerate(devices):
        for batch in (1, 8):
            samples = timings(1.5 * batch, n=50, seed=seed + offset + batch)
            rows.append(DeviceRow(device=device, artifact="artifacts/a/model.onnx", artifact_id="net/x86/int8",
                                  sha256="cd" * 32, backend="onnxruntime", runtime_variant="default", precision="int8",
                                  target="x86-cpu-onnxruntime", batch_size=batch, threads=2,
                                  latency_ms=summarize(samples), samples_ms=samples, throughput_per_s=batch * 600.0,
                                  fingerprint={"hostname": device, **board},
                                  runtime_versions={"onnxruntime": "1.20.0"}, measured_at="2026-01-02T03:04:05+00:00"))
    return rows


def with_device_rows(rows: list[DeviceRow]) -> dict:
    return {**make_report(default_rows()), "device_results": [r.model_dump(mode="json") for r in rows]}


def test_markdown_and_html_show_device_rows_with_the_same_columns_and_cells():
    report = with_device_rows(device_rows(("orin", "pi")))
    page = render_html(report, [])
    table = re.search(r'<table id="device-rows">(.*?)</table>', page, re.S).group(1)
    headers = re.findall(r"<th[^>]*>([^<]*)</th>", table)
    html_rows = [re.findall(r"<td[^>]*>([^<]*)</td>", row) for row in re.findall(r"<tr[^>]*>(.*?)</tr>", table)[1:]]
    markdown = render_markdown(report).splitlines()
    start = markdown.index("| " + " | ".join(c.header for c in DEVICE_COLUMNS) + " |")
    md_rows = [line.strip("| ").split(" | ") for line in markdown[start + 2:start + 2 + len(html_rows)]]
    assert headers == [c.header for c in DEVICE_COLUMNS] and len(html_rows) == 4
    assert html_rows == md_rows
    assert markdown[start - 4] == "## Device rows" and html_rows[0][0] == "orin" and html_rows[2][0] == "pi"


def test_a_report_without_device_rows_has_no_section():
    report = make_report(default_rows())
    assert "Device rows" not in render_markdown(report) and 'id="device-rows"' not in render_html(report, [])


def test_attaching_a_device_again_replaces_its_rows_only():
    first = device_rows(("orin", "pi"))
    again = device_rows(("pi",), seed=9)[:1]
    assert [(r.device, r.batch_size) for r in merged(first, again)] == [("orin", 1), ("orin", 8), ("pi", 1)]


def test_a_malformed_device_row_is_one_clear_error():
    with pytest.raises(ReportInputError, match=r"r.json: device_results\[0\] is not a valid device row"):
        report_device_rows({"device_results": [{"device": "orin"}]}, "r.json")
    with pytest.raises(ReportInputError, match="must be a list"):
        report_device_rows({"device_results": {}}, "r.json")
