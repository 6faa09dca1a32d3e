"""Each target's recommended artifact, chosen from constructed rows (speed differences come from the
rows, never from timing here): FP32 where INT8 is slower, INT8 where it is faster, bf16 only within
the floor, recommend: int8 failing in one line, host-timed rows pending until device rows arrive,
and compare gating the recommended row."""

import json

from edge_pipeline import api
from edge_pipeline.benchmarking.fidelity import OutputFidelity
from edge_pipeline.reports.device_rows import DeviceRow
from edge_pipeline.reports.gates.thresholds import FAIL, PASS
from edge_pipeline.reports.json_report import build_report
from edge_pipeline.reports.markdown import render_markdown
from edge_pipeline.reports.recommend import RecommendPolicy, manifest_view, recommended_section, with_device_rows
from edge_pipeline.reports.terminal import recommended_table
from tests.reports.report_factory import ORT, OV, changed, make_manifest, make_row, timings, with_timings, write_run

ANDROID = "android-arm64-onnxruntime"
POLICY = RecommendPolicy(min_cosine=0.99, threads=2)
KERNELS = {"executed": {"int8_layers": 3, "float_layers": [], "kernels": {"jit_gemm_i8": 16, "brgemm_avx2_f32": 2}}}


def faithful(row, cosine=0.998):
    return changed(row, fidelity={"logits": OutputFidelity(cosine=cosine, sqnr_db=30.0, max_abs_diff=0.01)})


def pair(target=ORT, fp32_ms=1.0, int8_ms=0.5, cosine=0.998, **kwargs):
    fp32 = faithful(make_row("teacher", "fp32", target, median_ms=fp32_ms, accuracy=98.9, size_bytes=4000,
                             variant="f32" if target == OV else "default", **kwargs), 1.0)
    int8 = faithful(make_row("teacher", "int8", target, median_ms=int8_ms, accuracy=98.7, size_bytes=1000,
                             seed=1, **kwargs), cosine)
    return [fp32, int8]


def records(target=ORT, meta=None):
    return [{"id": f"teacher/{target}/int8", "model": "teacher", "precision": "int8", "meta": meta or {}}]


def test_int8_slower_than_fp32_recommends_fp32_and_says_why_with_its_kernels():
    entry = recommended_section(pair(int8_ms=1.3), {ORT: POLICY}, records(meta=KERNELS))[ORT]
    assert entry["status"] == "recommended" and entry["artifact_id"] == f"teacher/{ORT}/fp32"
    assert entry["reason"].startswith("FP32: INT8 0.7") and "x here" in entry["reason"]
    assert "jit_gemm_i8 ×16" in entry["reason"] and "(from meta.executed)" in entry["reason"]
    assert entry["speedup_vs_fp32"] == 1.0 and entry["worst_cosine"] == 1.0


def test_int8_faster_recommends_int8_with_its_speedup_and_cosine():
    entry = recommended_section(pair(int8_ms=0.4), {ORT: POLICY}, records())[ORT]
    assert (entry["artifact_id"], entry["runtime_variant"]) == (f"teacher/{ORT}/int8", "default")
    assert 2.2 < entry["speedup_vs_fp32"] < 2.8 and entry["worst_cosine"] == 0.998
    assert entry["reason"].startswith("INT8: 2.") and "x FP32 at cosine 0.9980" in entry["reason"]
    assert (entry["timed_on"], entry["batch_size"], entry["threads"]) == ("host", 1, 2)


def test_int8_with_layers_its_fidelity_search_kept_float_says_which_and_keeps_its_label():
    # "mixed INT8" names placement's artifact only: both can be candidates of one target
    meta = {"float_nodes": {"conv1": "fidelity"}}
    entry = recommended_section(pair(int8_ms=0.4), {ORT: POLICY}, records(meta=meta))[ORT]
    assert entry["label"] == "INT8"
    assert entry["reason"].startswith("INT8:") and "kept float: conv1" in entry["reason"]


def test_the_mixed_variant_competes_and_wins_when_it_is_the_fastest_that_keeps_fidelity():
    fp32, int8 = pair(fp32_ms=1.0, int8_ms=1.2)
    mixed = changed(faithful(make_row("teacher", "int8", ORT, median_ms=0.8, accuracy=98.8, size_bytes=1500,
                                      seed=3), 0.999), artifact_id=f"teacher/{ORT}/int8-mixed")
    placement = [{"node": "conv1", "op_type": "Conv", "reason": "speed", "int8_ms": 0.2, "fp32_ms": 0.1}]
    artifacts = records() + [{"id": f"teacher/{ORT}/int8-mixed", "model": "teacher", "precision": "int8",
                              "meta": {"placement": placement}}]
    entry = recommended_section([fp32, int8, mixed], {ORT: POLICY}, artifacts)[ORT]
    assert entry["artifact_id"] == f"teacher/{ORT}/int8-mixed" and entry["label"] == "mixed INT8"
    assert entry["reason"].startswith("mixed INT8: 1.") and "kept float: conv1" in entry["reason"]
    assert {c["label"] for c in entry["candidates"]} == {"FP32", "INT8", "mixed INT8"}
    # Slower than FP32 once timed, it is still a candidate that loses.
    slow = changed(mixed, latency_ms=make_row("teacher", "int8", ORT, median_ms=1.5, accuracy=None,
                                              size_bytes=1).latency_ms)
    entry = recommended_section([fp32, int8, slow], {ORT: POLICY}, artifacts)[ORT]
    assert entry["artifact_id"] == f"teacher/{ORT}/fp32" and "mixed INT8 0.6" in entry["reason"]


def test_bf16_counts_only_within_the_floor():
    rows = pair(OV, int8_ms=1.5)
    bf16 = make_row("teacher", "fp32", OV, median_ms=0.6, accuracy=98.8, size_bytes=4000, variant="bf16",
                    reference=False, seed=2)
    entry = recommended_section(rows + [faithful(bf16, 0.9995)], {OV: POLICY}, [])[OV]
    assert (entry["runtime_variant"], entry["reason"][:6]) == ("bf16", "bf16: ")
    entry = recommended_section(rows + [faithful(bf16, 0.95)], {OV: POLICY}, [])[OV]
    assert entry["artifact_id"] == f"teacher/{OV}/fp32" and "bf16 reaches cosine 0.9500" in entry["reason"]


def test_recommend_int8_without_a_passing_int8_names_the_best_fidelity_in_one_line():
    policy = POLICY.model_copy(update={"recommend": "int8"})
    entry = recommended_section(pair(cosine=0.97), {ORT: policy}, records())[ORT]
    assert entry["status"] == "none" and entry["artifact_id"] is None
    assert "\n" not in entry["reason"]
    assert "no INT8 artifact meets the fidelity floor" in entry["reason"] and "cosine 0.9700" in entry["reason"]
    passing = recommended_section(pair(int8_ms=1.3), {ORT: policy}, records())[ORT]
    assert passing["artifact_id"] == f"teacher/{ORT}/int8" and "(benchmark.recommend: int8)" in passing["reason"]
    fp32 = recommended_section(pair(), {ORT: POLICY.model_copy(update={"recommend": "fp32"})}, records())[ORT]
    assert fp32["artifact_id"] == f"teacher/{ORT}/fp32" and "INT8 2." in fp32["reason"]


def test_android_rows_timed_on_this_host_wait_for_device_rows_then_take_them():
    rows = [changed(row, measured_on="host", headline_eligible=False) for row in pair(ANDROID, int8_ms=0.4)]
    section = recommended_section(rows, {ANDROID: POLICY}, records(ANDROID))
    assert section[ANDROID]["status"] == "pending" and section[ANDROID]["reason"].startswith("pending: device rows")
    assert section[ANDROID]["artifact_id"] is None

    def device_row(precision, ms):
        return DeviceRow(device="pixel", artifact=f"artifacts/{precision}.onnx", artifact_id=f"teacher/{ANDROID}/"
                         f"{precision}", sha256="x", backend="onnxruntime", runtime_variant="default",
                         precision=precision, target=ANDROID, batch_size=1, threads=4,
                         latency_ms=make_row("m", "fp32", median_ms=ms, accuracy=None, size_bytes=1).latency_ms)

    # On the board INT8 loses: the device rows, not the host's, decide.
    filled = with_device_rows(section, rows, [device_row("fp32", 3.0), device_row("int8", 4.0)], records(ANDROID))
    entry = filled[ANDROID]
    assert (entry["status"], entry["artifact_id"], entry["timed_on"]) == ("recommended", f"teacher/{ANDROID}/fp32",
                                                                          "pixel")
    assert "INT8 0.75x here" in entry["reason"]
    assert manifest_view(filled)[ANDROID]["artifact_id"] == f"teacher/{ANDROID}/fp32"


def test_report_manifest_view_markdown_and_table_state_the_recommendation():
    report = build_report("r", [ORT, ANDROID], pair(int8_ms=0.4), [], [], {},
                          recommend={ORT: POLICY, ANDROID: POLICY})
    json.dumps(report, allow_nan=False)  # strict JSON: no NaN or Infinity
    assert report["recommended"][ANDROID]["status"] == "pending"  # no rows of it at all
    assert set(manifest_view(report["recommended"])[ORT]) == {"status", "artifact_id", "runtime_variant", "reason",
                                                               "speedup_vs_fp32", "worst_cosine"}
    text = render_markdown(report)
    assert "## Recommended artifact per target" in text and f"teacher/{ORT}/int8 [default]" in text
    table = recommended_table(report["recommended"])
    assert table[0].split()[:5] == ["target", "recommended", "runtime", "vs", "FP32"]
    assert table[2].split()[:2] == [ORT, "int8"]


def test_compare_fails_when_the_recommended_row_regresses(tmp_path):
    def run(name, rows):
        report = build_report("digits-resnet", [ORT], rows, [], [], {}, recommend={ORT: POLICY})
        return write_run(tmp_path / name, report, make_manifest())

    rows = pair(int8_ms=0.4)
    baseline = run("baseline", rows)
    same = api.compare(baseline, baseline)
    recommended = [r for r in same.results if r.gate.startswith("recommended")]
    assert recommended and {r.status for r in recommended} == {PASS}

    slower = [rows[0], with_timings(rows[1], timings(0.6, seed=5))]
    comparison = api.compare(baseline, run("new", slower))
    failed = [r for r in comparison.results if r.gate == "recommended latency" and r.status == FAIL]
    assert len(failed) == 1 and failed[0].subject.startswith(f"{ORT}: teacher/{ORT}/int8")

    # INT8 below the floor now: FP32 ships instead, and what ships got slower.
    switched = api.compare(baseline, run("switched", [rows[0], faithful(rows[1], 0.9)]))
    failed = [r for r in switched.results if r.gate == "recommended latency" and r.status == FAIL]
    assert len(failed) == 1 and failed[0].subject.endswith(f"-> teacher/{ORT}/fp32 [default]")

    unanswered = build_report("digits-resnet", [ORT], rows, [], [], {})  # no recommendation at all
    lost = api.compare(baseline, write_run(tmp_path / "lost", unanswered, make_manifest()))
    assert [r.status for r in lost.results if r.gate == "recommended"] == [FAIL]
