"""report.html: self-contained, one well-formed chart per section, ratios in the table."""

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
from edge_pipeline.reports.report_rows import report_rows
from tests.reports.report_factory import (
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


def test_every_chart_is_well_formed_svg_with_marks():
    page = render_html(make_report(default_rows(batches=(1, 8))), make_artifacts())
    found = charts(page)
    expected = int(re.search(r'data-charts-expected="(\d+)"', page).group(1))
    # Two configurations: a scatter and a latency chart each, plus params, MACs and size bars.
    assert len(found) == expected == 2 + 2 + 3
    for chart in found:
        assert any(el.get("data-mark") for el in chart.iter()), chart.get("data-chart")
    kinds = [c.get("data-chart") for c in found]
    assert kinds.count("accuracy-latency") == 2 and kinds.count("latency-distribution") == 2
    assert {"stage-params", "stage-macs", "stage-size_bytes"} <= set(kinds)


def test_page_loads_nothing_from_the_network():
    page = render_html(make_report(default_rows()), make_artifacts())
    assert "<link" not in page and " src=" not in page and "@import" not in page
    assert set(re.findall(r"https?://[^\s\"')]+", page)) == {"http://www.w3.org/2000/svg"}


def test_pareto_front_points_are_ringed():
    rows = default_rows()
    page = render_html(make_report(rows), make_artifacts())
    scatter = next(c for c in charts(page) if c.get("data-chart") == "accuracy-latency")
    rings = [el for el in scatter.iter() if el.get("class") == "front-ring"]
    front = pareto_front([(r.latency_ms.p50, r.accuracy) for r in rows])
    legend_rings = 1
    assert len(rings) == len(front) + legend_rings
    assert scatter.find(f"{SVG_NS}polyline") is not None


def test_one_latency_box_per_row_and_table_with_ratios():
    report = make_report(default_rows())
    page = render_html(report, make_artifacts())
    distribution = next(c for c in charts(page) if c.get("data-chart") == "latency-distribution")
    boxes = [el for el in distribution.iter() if (el.get("class") or "").startswith("mark box")]
    assert len(boxes) == len(report["results"])
    assert page.count("<tr") == len(report["results"]) + 1
    assert "speedup vs FP32 teacher" in page and "6.2" in page  # student int8: ~6x the teacher FP32


def test_stage_bars_go_from_teacher_to_final_student():
    page = render_html(make_report(default_rows()), make_artifacts())
    params = next(c for c in charts(page) if c.get("data-chart") == "stage-params")
    labels = [el.text for el in params.iter(f"{SVG_NS}text") if el.get("class") == "bar-label"]
    assert labels == ["teacher fp32", "teacher int8 @x86-cpu-onnxruntime", "student fp32",
                      "student int8 @x86-cpu-onnxruntime"]
    assert "0.25×" in "".join(el.text or "" for el in params.iter(f"{SVG_NS}text"))


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


def test_stalls_do_not_squash_the_latency_boxes():
    rows = default_rows()
    rows[0] = changed(rows[0], samples_ms=rows[0].samples_ms[:-10] + [40.0] * 10)  # a busy machine's stalls
    page = render_html(make_report(rows), make_artifacts())
    distribution = next(c for c in charts(page) if c.get("data-chart") == "latency-distribution")
    assert any((el.text or "").startswith("p99 ") for el in distribution.iter(f"{SVG_NS}text"))


def test_build_report_places_artifacts_and_keeps_the_json_layout():
    rows = default_rows()
    placed = {rows[0].artifact_id: "artifacts/teacher/model.onnx"}
    report = build_report("digits-resnet", ["x86-cpu-onnxruntime"], rows, ["a note"], [], placed)
    assert list(report) == ["schema_version", "recipe", "targets", "baseline", "notes", "results"]
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
    simulated = next(line for line in text.splitlines() if "stand-in" in line)
    assert "6.2" not in simulated and "| – |" in simulated  # a stand-in runtime claims no speedup


def test_a_bundle_with_a_malformed_row_names_the_file_and_row(tmp_path):
    report = make_report(default_rows())
    report["results"][4]["latency_ms"] = "fast"
    bundle = write_run(tmp_path / "bundle", report, make_manifest())
    with pytest.raises(ReportInputError, match=r"bundle/report.json: results\[4\] \(teacher/x86-cpu-openvino/fp32\)"):
        render_bundle_html(bundle)
