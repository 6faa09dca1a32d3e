"""report.html and report.md: self-contained, one well-formed chart per panel, log latency axes, only
headline-eligible rows on the cards and the Pareto front, run info and warnings at the top, the same
results columns in both files, quantization settings and checks, and notes folded."""

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from edge_pipeline.artifacts.record import Artifact
from edge_pipeline.reports.gates.errors import ReportInputError
from edge_pipeline.reports.html.pareto import pareto_front
from edge_pipeline.reports.html.render import render_bundle_html, render_html, write_html_report
from edge_pipeline.reports.json_report import build_report
from edge_pipeline.reports.markdown import render_markdown
from edge_pipeline.reports.notes import group_notes
from edge_pipeline.reports.report_rows import report_rows
from edge_pipeline.reports.tables import RESULT_COLUMNS
from tests.reports.html.samples import ARM, TRT, checked_artifacts, mixed_rows
from tests.reports.report_factory import (
    ORT,
    changed,
    default_rows,
    make_artifacts,
    make_manifest,
    make_report,
    make_row,
    write_run,
)

SVG_NS = "{http://www.w3.org/2000/svg}"


def charts(page: str) -> list[ET.Element]:
    return [ET.fromstring(svg) for svg in re.findall(r"<svg class=\"chart\".*?</svg>", page, re.S)]


def texts(chart: ET.Element, cls: str) -> list[ET.Element]:
    return [el for el in chart.iter(f"{SVG_NS}text") if el.get("class") == cls]


def panel_of(page: str, target: str) -> ET.Element:
    return next(c for c in charts(page) if c.get("data-chart") == "accuracy-latency"
                and any(el.text == target for el in texts(c, "chart-title")))


def test_every_chart_is_well_formed_svg_with_marks():
    page = render_html(make_report(default_rows(batches=(1, 8))), make_artifacts())
    found = charts(page)
    expected = int(re.search(r'data-charts-expected="(\d+)"', page).group(1))
    # Two targets x two configurations of accuracy panels, a latency chart per configuration, 3 bars.
    assert len(found) == expected == 4 + 2 + 3
    for chart in found:
        assert any(el.get("data-mark") for el in chart.iter()), chart.get("data-chart")
    kinds = [c.get("data-chart") for c in found]
    assert kinds.count("accuracy-latency") == 4 and kinds.count("latency-distribution") == 2
    assert {"stage-params", "stage-macs", "stage-size_bytes"} <= set(kinds)


def test_page_loads_nothing_from_the_network():
    page = render_html(make_report(mixed_rows()), make_artifacts())
    assert "<link" not in page and " src=" not in page and "@import" not in page
    assert set(re.findall(r"https?://[^\s\"')]+", page)) == {"http://www.w3.org/2000/svg"}


def test_each_target_panel_rings_its_own_pareto_front():
    rows = default_rows()
    page = render_html(make_report(rows), make_artifacts())
    for target in (ORT, "x86-cpu-openvino"):
        own = [r for r in rows if r.target == target]
        panel = panel_of(page, target)
        rings = [el for el in panel.iter() if el.get("class") == "front-ring"]
        assert len(rings) == len(pareto_front([(r.latency_ms.p50, r.accuracy) for r in own]))


def test_points_are_numbered_and_named_in_a_key_table():
    rows = default_rows()
    page = render_html(make_report(rows), make_artifacts())
    panel = panel_of(page, ORT)
    ort_rows = [r for r in rows if r.target == ORT]
    assert sorted(int(el.text) for el in texts(panel, "point-label")) == list(range(1, len(ort_rows) + 1))
    figure = re.search(r'<figure class="panel"><svg[^>]*aria-label="Accuracy vs latency on x86-cpu-onnxruntime.*?'
                       r"</figure>", page, re.S).group(0)
    keys = re.findall(r"<tr><td>(\d+)</td><td>.*?</span>([^<]+)</td>", figure)
    fastest = min(ort_rows, key=lambda r: r.latency_ms.p50)
    assert keys[0] == ("1", f"{fastest.model} {fastest.precision}") and len(keys) == len(ort_rows)


def test_latency_axes_are_logarithmic():
    page = render_html(make_report(mixed_rows()), make_artifacts())
    spread = next(c for c in charts(page) if c.get("data-chart") == "latency-distribution")
    ticks = {el.text: float(el.get("x")) for el in texts(spread, "tick-label") if el.get("text-anchor") == "middle"}
    # Equal ratios, equal distances: 0.1 -> 0.2 ms takes as much room as 0.5 -> 1 ms.
    assert ticks["0.2"] - ticks["0.1"] == pytest.approx(ticks["1"] - ticks["0.5"], abs=0.2)
    assert "log scale" in "".join(el.text or "" for el in texts(panel_of(page, ORT), "axis-label"))


def test_one_latency_line_per_row_and_table_with_ratios():
    report = make_report(default_rows())
    page = render_html(report, make_artifacts())
    spread = next(c for c in charts(page) if c.get("data-chart") == "latency-distribution")
    boxes = [el for el in spread.iter() if (el.get("class") or "").startswith("mark box")]
    assert len(boxes) == len(report["results"])
    table = re.search(r'<table id="results">.*?</table>', page, re.S).group(0)
    assert table.count("<tr") == len(report["results"]) + 1
    assert "speedup vs FP32 teacher" in table and "6.2" in table  # student int8: ~6x the teacher FP32


def test_host_timed_and_simulated_rows_never_headline_nor_join_the_front():
    report = make_report(mixed_rows())
    page = render_html(report, make_artifacts())
    glance = re.search(r'<div class="glance">(.*?)</div>\n', page, re.S).group(1)
    cards = dict(re.findall(r'<div class="muted">([^<]+)</div>(.*?)</div>', glance, re.S))
    assert "no headline" in cards[ARM] and "this host" in cards[ARM]
    assert "no headline" in cards[TRT] and "stand-in runtime" in cards[TRT]
    assert "student int8" in cards[ORT]  # the real fastest, not the 0.05 ms host-timed one
    for target in (ARM, TRT):
        panel = panel_of(page, target)
        assert not [el for el in panel.iter() if el.get("class") in ("front-ring", "front-line")]
        marks = [el for el in panel.iter() if el.get("data-mark")]
        assert marks and all(el.get("fill") == "#fff" for el in marks)  # hollow: shown, not comparable
    markdown = render_markdown(report)
    assert f"- **{ARM}**: no headline" in markdown and f"- **{TRT}**: no headline" in markdown
    arm_line = next(line for line in markdown.splitlines() if line.startswith(f"| {ARM} | student"))
    assert "| no: host-timed |" in arm_line


def test_headline_eligibility_of_old_reports_is_derived():
    report = make_report(mixed_rows())
    for row in report["results"]:
        for key in ("headline_eligible", "warnings", "measured_at", "measured_host", "load_avg_start",
                    "load_avg_end"):
            row.pop(key, None)
    report.pop("run_info"), report.pop("measurement_warnings")
    page = render_html(report, make_artifacts())
    assert "no headline" in page and "Run info: not recorded" in page
    assert "Run info: not recorded" in render_markdown(report)


def test_run_info_and_measurement_warnings_come_first():
    report = make_report(default_rows())
    report["run_info"] = {"host": "bench-01", "cpu_flags": ["avx2", "avx512_vnni"], "load_avg_start": [0.25, 0.5, 1.0],
                          "versions": {"onnxruntime": "1.32.0"}, "clock_state": None, "new_key": {"a": True}}
    report["measurement_warnings"] = ["The machine was <loaded> while timing"]
    report["results"][2]["warnings"] = ["spread p90/p50 2.50"]
    page = render_html(report, make_artifacts())
    warn, run, glance = (page.index('class="warn"'), page.index('class="runinfo"'), page.index("At a glance"))
    assert warn < run < glance
    assert "The machine was &lt;loaded&gt; while timing" in page
    for shown in ("bench-01", "avx2 avx512_vnni", "0.25 0.50 1.00", "onnxruntime 1.32.0", "new key", "a yes"):
        assert shown in page, shown
    assert "CPU clocks" not in page  # recorded as null: nothing to show
    assert '<td data-sort="spread p90/p50 2.50" class="warnings">spread p90/p50 2.50</td>' in page
    assert "<td>⚠ spread p90/p50 2.50</td>" in page  # the accuracy panel's key table
    spread = next(c for c in charts(page) if c.get("data-chart") == "latency-distribution")
    assert [el.text for el in spread.iter(f"{SVG_NS}text") if (el.text or "").startswith("⚠")] == ["⚠ student fp32"]
    markdown = render_markdown(report)
    assert markdown.index("> **Measurement warnings**") < markdown.index("## Run") < markdown.index("## At a glance")
    assert "- **host**: bench-01" in markdown and "| spread p90/p50 2.50 |" in markdown


def test_an_old_bundle_takes_its_run_info_from_the_manifest(tmp_path):
    report = make_report(default_rows())
    report.pop("run_info")
    page = render_bundle_html(write_run(tmp_path / "bundle", report, make_manifest(cpu="Old EPYC")))
    assert "from manifest.json" in page and "Old EPYC" in page and "onnxruntime 1.32.0" in page


def html_results(page: str) -> tuple[list[str], list[list[str]]]:
    table = re.search(r'<table id="results">(.*?)</table>', page, re.S).group(1)
    headers = re.findall(r"<th[^>]*>([^<]*)</th>", table)
    rows = [re.findall(r"<td[^>]*>([^<]*)</td>", row) for row in re.findall(r"<tr[^>]*>(.*?)</tr>", table)[1:]]
    return headers, rows


def test_html_and_markdown_results_have_the_same_columns_and_cells():
    report = make_report(mixed_rows())
    headers, rows = html_results(render_html(report, make_artifacts()))
    markdown = render_markdown(report).splitlines()
    start = markdown.index("| " + " | ".join(c.header for c in RESULT_COLUMNS) + " |")
    md_rows = [line.strip("| ").split(" | ") for line in markdown[start + 2:start + 2 + len(rows)]]
    assert headers == [c.header for c in RESULT_COLUMNS]
    assert [[cell.replace("&gt;", ">") for cell in row] for row in rows] == md_rows


def test_quantization_settings_and_export_check_per_artifact():
    report = make_report(default_rows())
    page = render_html(report, checked_artifacts())
    table = re.search(r'<table id="artifact-checks">.*?</table>', page, re.S).group(0)
    assert ("weights int8 per-channel, 7-bit weight range, activations uint8 asymmetric, MatMul outputs float, "
            "3 convolutions on the INT8 GEMM") in table and "minmax, 128 samples" in table
    assert "cosine 0.99800, SQNR 20.7 dB, top-1 99.0%" in table
    assert "vs PyTorch max |diff| 9.5e-06, cosine 1.000000 (32 samples, opset 18)" in table
    markdown = render_markdown(report, checked_artifacts())
    assert "## Quantization settings and checks" in markdown
    assert "vs PyTorch max \\|diff\\| 9.5e-06" in markdown  # a '|' inside a cell is escaped
    assert "## Quantization settings" not in render_markdown(report)  # no artifact records, no section


def test_notes_differing_only_in_the_artifact_id_fold_into_one_line():
    ids = [f"{model}/{TRT}/{precision}" for model in ("teacher", "student") for precision in ("fp32", "int8")]
    notes = [f"{i}: TensorRT engine build skipped: tensorrt not installed" for i in ids]
    notes += ["a repeated note", "a repeated note", f"see artifacts/{ids[0]}/model.onnx"]
    groups = group_notes(notes, set(), [TRT])
    assert [g.line() for g in groups] == [
        f"4 artifacts ({', '.join(ids)}): TensorRT engine build skipped: tensorrt not installed",
        "a repeated note (×2)",
        f"see artifacts/{ids[0]}/model.onnx",  # a file path, not an id: left alone
    ]
    report = make_report(default_rows())
    report["notes"], report["targets"] = notes, [*report["targets"], TRT]
    page = render_html(report, make_artifacts())
    assert page.count("TensorRT engine build skipped") == 1
    assert re.search(r'<details class="notes"><summary>7 notes.*?</summary><ul>(<li>.*?</li>){3}</ul></details>', page)
    markdown = render_markdown(report)
    assert markdown.count("TensorRT engine build skipped") == 1 and "<details>" in markdown


def test_empty_and_partial_reports_still_render_every_chart():
    rows = [changed(r, accuracy=None, samples_ms=[]) for r in default_rows()]
    for report, artifacts in ((make_report([]), []), (make_report(rows), [])):
        page = render_html(report, artifacts)
        found = charts(page)
        assert len(found) == int(re.search(r'data-charts-expected="(\d+)"', page).group(1))
        assert all(any(el.get("data-mark") for el in c.iter()) for c in found)
    assert "no accuracy measured" in render_html(make_report(rows), [])


def test_text_from_the_report_is_escaped():
    report = make_report(default_rows(), recipe="<script>alert(1)</script>")
    page = render_html(report, make_artifacts())
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)" in page


def test_bundle_page_is_rebuilt_from_report_and_manifest(tmp_path):
    bundle = write_run(tmp_path / "bundle", make_report(default_rows()), make_manifest())
    assert "student int8 @x86-cpu-onnxruntime" in render_bundle_html(bundle)


def test_bundles_get_report_html():
    from edge_pipeline.reports.registry import REPORT_WRITERS

    assert write_html_report in REPORT_WRITERS


def test_the_html_writer_takes_report_artifacts_and_bundle_dir(tmp_path):
    artifacts = [Artifact(**{k: v for k, v in record.items() if k != "sha256"}, path=Path("/run") / record["id"])
                 for record in make_artifacts()]
    write_html_report(make_report(default_rows()), artifacts, tmp_path)
    assert "student int8 @x86-cpu-onnxruntime" in (tmp_path / "report.html").read_text()


def test_build_report_places_artifacts_and_keeps_the_json_layout():
    rows = default_rows()
    placed = {rows[0].artifact_id: "artifacts/teacher/model.onnx"}
    report = build_report("digits-resnet", ["x86-cpu-onnxruntime"], rows, ["a note"], [], placed)
    assert list(report)[:6] == ["schema_version", "recipe", "targets", "baseline", "notes", "results"]
    assert report["results"][0]["artifact"] == "artifacts/teacher/model.onnx"
    assert report["results"][1]["artifact"] == rows[1].artifact  # not placed: kept as it was
    assert rows[0].artifact != report["results"][0]["artifact"]  # the caller's rows are untouched
    assert report["results"] == [r.model_dump(mode="json") for r in report_rows(report)]
    assert report["results"][3]["speedup_vs_baseline"] == pytest.approx(
        rows[0].latency_ms.p50 / rows[3].latency_ms.p50)


def test_markdown_names_variants_and_host_measurements():
    rows = default_rows() + [make_row("student", "int8", median_ms=0.3, accuracy=98.3, size_bytes=760_000,
                                      variant="stand-in", simulated=True)]
    rows[1] = changed(rows[1], measured_on="host")
    text = render_markdown(make_report(rows))
    assert text.count("\n| x86-cpu") == len(rows)
    assert "onnxruntime:default (host)" in text and "openvino:bf16" in text
    simulated = next(line for line in text.splitlines() if line.startswith("|") and "stand-in" in line)
    assert "6.2" not in simulated and "| – |" in simulated  # a stand-in runtime claims no speedup
    assert "| x86-cpu-onnxruntime | teacher | int8 |" in text


def test_a_note_under_the_results_names_rows_timed_by_the_runtimes_own_clock():
    rows = default_rows()
    assert "own timer" not in render_markdown(make_report(rows))  # every row on our clock: no note
    timed = [changed(r, latency_clock="runtime", call_clock_p50_ms=r.latency_ms.p50 * 1.1)
             if r.backend == "openvino" else r for r in rows]
    report = make_report(timed)
    assert {(r["backend"], r["latency_clock"]) for r in report["results"]} == {("onnxruntime", "call"),
                                                                               ("openvino", "runtime")}
    lines = render_markdown(report).splitlines()
    last_result = max(i for i, line in enumerate(lines) if line.startswith("| x86-cpu"))
    note = lines[last_result + 2]
    assert note.startswith("openvino rows: p50/p90/p99 by the runtime's own timer of each call")
    assert note.endswith("our clock around the call: call_clock_p50_ms in report.json.")
    page = render_html(report, make_artifacts())
    results_end = page.index("</table></div>", page.index('<table id="results">'))
    assert page.index('</table></div>\n<p class="sub">openvino rows: p50/p90/p99') == results_end


def test_a_bundle_with_a_malformed_row_names_the_file_and_row(tmp_path):
    report = make_report(default_rows())
    report["results"][4]["latency_ms"] = "fast"
    bundle = write_run(tmp_path / "bundle", report, make_manifest())
    with pytest.raises(ReportInputError, match=r"bundle/report.json: results\[4\] \(teacher/x86-cpu-openvino/fp32\)"):
        render_bundle_html(bundle)
