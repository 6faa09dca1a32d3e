"""Release gates on synthetic runs built from BenchmarkRow objects (no pipeline run)."""

import json
from pathlib import Path

import pytest

from edge_pipeline import api
from edge_pipeline.reports.gates.errors import (
    BaselineMissingArtifactError,
    ReportInputError,
    ReportMismatchError,
    UnknownSchemaError,
)
from edge_pipeline.reports.gates.run_loading import load_run
from edge_pipeline.reports.gates.thresholds import FAIL, NOISE, PASS, SKIPPED, GateThresholds
from edge_pipeline.reports.html.pareto import pareto_front
from edge_pipeline.reports.json_report import add_ratios
from edge_pipeline.reports.report_rows import report_rows
from tests.reports.report_factory import (
    changed,
    default_rows,
    make_manifest,
    make_report,
    make_row,
    timings,
    with_int8_replaced_by_fp32,
    with_timings,
    write_run,
)

STORED_BASELINES = sorted((Path(__file__).parents[3] / "baselines").glob("*/report.json"))


@pytest.fixture
def baseline(tmp_path):
    return write_run(tmp_path / "baseline", make_report(default_rows()), make_manifest())


def by_gate(comparison, gate):
    return [r for r in comparison.results if r.gate == gate]


def test_a_run_compared_with_itself_passes_every_gate(baseline):
    comparison = api.compare(baseline, baseline)
    assert comparison.passed
    assert {r.status for r in comparison.results} == {PASS}
    rows = default_rows()
    assert len(by_gate(comparison, "latency")) == len(rows)
    assert len(by_gate(comparison, "size")) == len({r.artifact_id for r in rows})


def test_int8_replaced_by_fp32_fails_the_latency_gate_clearly(tmp_path, baseline):
    swapped = with_int8_replaced_by_fp32(make_report(default_rows()))
    new = write_run(tmp_path / "new", swapped, make_manifest())
    comparison = api.compare(baseline, new)
    assert not comparison.passed
    failed_latency = [r for r in by_gate(comparison, "latency") if r.status == FAIL]
    int8_ids = {r.artifact_id for r in report_rows(swapped) if r.precision == "int8"}
    assert {r.subject.split(" ")[0] for r in failed_latency} == int8_ids
    message = next(r.message for r in failed_latency if r.subject.startswith("teacher/x86-cpu-onnxruntime/int8"))
    assert "latency regressed beyond the +5% limit" in message and "0.53" in message and "1.5" in message
    assert all(r.status == PASS for r in by_gate(comparison, "latency") if "/fp32" in r.subject)
    assert any(r.status == FAIL for r in by_gate(comparison, "size"))


def one_row_run(tmp_path, name, samples, **row_changes):
    row = with_timings(make_row("teacher", "fp32", median_ms=1.0, accuracy=98.0, size_bytes=1000), samples)
    return write_run(tmp_path / name, make_report([changed(row, **row_changes)]))


def latency_status(tmp_path, base_samples, new_samples):
    comparison = api.compare(one_row_run(tmp_path, "a", base_samples), one_row_run(tmp_path, "b", new_samples))
    return by_gate(comparison, "latency")[0]


def test_a_regression_inside_the_noise_passes_and_says_so(tmp_path):
    # 20 very noisy timings each: a 7% shift of the median is not distinguishable from noise.
    noisy = timings(1.0, n=20, spread=0.4, seed=1)
    result = latency_status(tmp_path, noisy, [v * 1.07 for v in noisy])
    assert result.change == "+7.0%"
    assert result.status == NOISE and "within measurement noise, not failed" in result.message


def test_the_same_regression_measured_tightly_fails(tmp_path):
    tight = timings(1.0, n=300, spread=0.01, seed=1)
    result = latency_status(tmp_path, tight, [v * 1.07 for v in tight])
    assert result.status == FAIL and "outside the measurement noise" in result.message


def test_a_small_slowdown_within_the_limit_passes(tmp_path):
    result = latency_status(tmp_path, timings(1.0, n=300, spread=0.01, seed=1),
                            timings(1.02, n=300, spread=0.01, seed=2))
    assert result.status == PASS and "within the +5% limit" in result.message


def test_without_raw_timings_the_stored_median_intervals_are_used(tmp_path):
    base = one_row_run(tmp_path, "a", timings(1.0, n=300, spread=0.01, seed=1), samples_ms=[])
    new = one_row_run(tmp_path, "b", timings(1.5, n=300, spread=0.01, seed=2), samples_ms=[])
    result = by_gate(api.compare(base, new), "latency")[0]
    assert result.status == FAIL and "95% median intervals" in result.message


def accuracy_results(tmp_path, drop_of, thresholds=None):
    """Gate a run whose rows lost ``drop_of(row)`` points of top-1 against the unchanged rows."""
    base = write_run(tmp_path / "base", make_report(default_rows()))
    new = write_run(tmp_path / "new", make_report([changed(r, accuracy=r.accuracy - drop_of(r))
                                                   for r in default_rows()]))
    comparison = api.compare(base, new, thresholds)
    return by_gate(comparison, "accuracy"), by_gate(comparison, "accuracy-absolute")


def test_int8_losing_accuracy_against_its_own_fp32_fails(tmp_path):
    relative, absolute = accuracy_results(tmp_path, lambda r: 0.8 if r.precision == "int8" else 0.0)
    assert relative and all(r.status == FAIL for r in relative if "/int8" in r.subject)
    assert all(r.status == PASS for r in relative if "/fp32" in r.subject)
    message = next(r.message for r in relative if r.subject == "teacher/x86-cpu-onnxruntime/int8 [default]")
    assert "vs teacher/x86-cpu-onnxruntime/fp32 [default] in the same run -0.19 -> -0.99 pp (-0.80 pp" in message
    assert "lost more than the 0.5 pp allowed against its own FP32 reference" in message
    assert all(r.status == PASS for r in absolute), "0.8 pp is inside the absolute drift allowed"


def test_a_model_retrained_on_another_cpu_passes(tmp_path):
    # Every artifact moves with the retrained weights: the deltas to the FP32 reference stay.
    relative, absolute = accuracy_results(tmp_path, lambda r: 0.74)
    assert {r.status for r in relative + absolute} == {PASS}
    assert not any("determinis" in r.message for r in relative + absolute)


def test_a_collapse_fails_the_absolute_gate(tmp_path):
    _, absolute = accuracy_results(tmp_path, lambda r: 2.5)
    assert absolute and all(r.status == FAIL for r in absolute)
    assert "dropped more than the 2 pp allowed" in absolute[0].message
    _, loose = accuracy_results(tmp_path / "loose", lambda r: 2.5, GateThresholds(max_accuracy_drift_pp=3.0))
    assert all(r.status == PASS for r in loose)


def test_each_artifact_is_judged_against_its_own_fp32_reference(tmp_path):
    relative, _ = accuracy_results(tmp_path, lambda r: 0.0)
    subjects = {r.subject: r.message for r in relative}
    assert "teacher/x86-cpu-onnxruntime/fp32 [default]" not in subjects, "the reference is not judged against itself"
    assert "vs teacher/x86-cpu-onnxruntime/fp32" in subjects["student/x86-cpu-onnxruntime/fp32 [default]"]
    assert "vs student/x86-cpu-onnxruntime/fp32" in subjects["student/x86-cpu-onnxruntime/int8 [default]"]
    assert "vs teacher/x86-cpu-openvino/fp32 [f32]" in subjects["teacher/x86-cpu-openvino/fp32 [bf16]"]


def test_accuracy_is_skipped_without_a_labelled_eval_set(tmp_path):
    rows = [changed(r, accuracy=None) for r in default_rows()]
    run = write_run(tmp_path / "run", make_report(rows))
    comparison = api.compare(run, run)
    results = by_gate(comparison, "accuracy") + by_gate(comparison, "accuracy-absolute")
    assert results and all(r.status == SKIPPED for r in results)


def test_an_artifact_the_new_run_lost_fails_the_presence_gate(tmp_path, baseline):
    rows = [r for r in default_rows() if r.model != "student"]
    comparison = api.compare(baseline, write_run(tmp_path / "new", make_report(rows), make_manifest()))
    lost = by_gate(comparison, "presence")
    assert len(lost) == 2 and all(r.status == FAIL for r in lost) and not comparison.passed


def test_different_recipes_are_refused(tmp_path, baseline):
    other = write_run(tmp_path / "other", make_report(default_rows(), recipe="other-recipe"))
    with pytest.raises(ReportMismatchError, match="recipe 'digits-resnet'.*'other-recipe'") as error:
        api.compare(baseline, other)
    assert error.value.exit_code == 6


def test_different_models_are_refused(tmp_path, baseline):
    other = write_run(tmp_path / "other", make_report(default_rows()), make_manifest(factory="zoo:another_net"))
    with pytest.raises(ReportMismatchError, match="another_net"):
        api.compare(baseline, other)


def test_a_model_field_a_newer_schema_records_unset_is_no_other_model(tmp_path, baseline):
    manifest = make_manifest()
    manifest["recipe"]["snapshot"]["model"]["onnx"] = None  # a source field the baseline's schema lacked
    newer = write_run(tmp_path / "newer", make_report(default_rows()), manifest)
    assert api.compare(baseline, newer).passed


def test_a_baseline_without_the_new_artifact_is_refused(tmp_path):
    base = write_run(tmp_path / "base", make_report([r for r in default_rows() if r.model == "teacher"]))
    new = write_run(tmp_path / "new", make_report(default_rows()))
    with pytest.raises(BaselineMissingArtifactError, match="no measurement for student/x86-cpu-onnxruntime") as error:
        api.compare(base, new)
    assert error.value.exit_code == 7


@pytest.mark.parametrize("version", [2, None, "1"])
def test_an_unknown_schema_version_is_refused(tmp_path, baseline, version):
    report = make_report(default_rows())
    report["schema_version"] = version
    with pytest.raises(UnknownSchemaError, match="schema_version") as error:
        api.compare(baseline, write_run(tmp_path / "new", report))
    assert error.value.exit_code == 8


def test_a_path_without_a_report_is_refused(tmp_path, baseline):
    with pytest.raises(ReportInputError, match="no report found") as error:
        api.compare(baseline, tmp_path / "nothing-here")
    assert error.value.exit_code == 2
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(ReportInputError, match="not readable JSON"):
        api.compare(baseline, tmp_path / "broken.json")


def test_latency_from_another_cpu_is_not_comparable(tmp_path, baseline):
    swapped = with_int8_replaced_by_fp32(make_report(default_rows()))
    other_cpu = write_run(tmp_path / "new", swapped, make_manifest(cpu="Intel Xeon"))
    comparison = api.compare(baseline, other_cpu)
    latency = by_gate(comparison, "latency")
    assert latency and all(r.status == SKIPPED for r in latency)
    assert "not comparable: different CPU (baseline AMD EPYC vs new Intel Xeon)" in latency[0].message
    assert any("different CPUs" in note and "not gated" in note for note in comparison.notes)
    forced = api.compare(baseline, other_cpu, GateThresholds(latency_across_cpus=True))
    assert any(r.status == FAIL for r in by_gate(forced, "latency"))


def with_flags(manifest: dict, flags: list[str]) -> dict:
    return {**manifest, "host": {**manifest["host"], "cpu_flags": flags}}


def test_the_same_cpu_name_without_the_same_flags_is_another_cpu(tmp_path):
    vnni = write_run(tmp_path / "vnni", make_report(default_rows()),
                     with_flags(make_manifest(), ["avx2", "avx512f", "avx512_vnni"]))
    avx2 = write_run(tmp_path / "avx2", make_report(default_rows()), with_flags(make_manifest(), ["avx2"]))
    message = by_gate(api.compare(vnni, avx2), "latency")[0].message
    assert "AMD EPYC [avx2 avx512_vnni avx512f] vs new AMD EPYC [avx2]" in message
    assert {r.status for r in by_gate(api.compare(avx2, avx2), "latency")} == {PASS}


def test_a_runtime_mode_this_cpu_lacks_is_noted_not_failed(tmp_path):
    rows = [r for r in default_rows() if r.runtime_variant != "bf16"]
    bf16_host = write_run(tmp_path / "amx", make_report(default_rows()), with_flags(make_manifest(), ["amx_bf16"]))
    no_bf16 = write_run(tmp_path / "avx2", make_report(rows), with_flags(make_manifest(), ["avx2"]))
    comparison = api.compare(bf16_host, no_bf16)
    (presence,) = by_gate(comparison, "presence")
    assert presence.status == SKIPPED and "runtime mode 'bf16' was not timed" in presence.message
    assert comparison.passed
    reverse = api.compare(no_bf16, bf16_host)  # a mode only the new CPU runs: noted, not exit 7
    assert reverse.passed and any("bf16 timed only on the new run's CPU" in note for note in reverse.notes)
    same_cpu = write_run(tmp_path / "same", make_report(rows), with_flags(make_manifest(), ["amx_bf16"]))
    assert by_gate(api.compare(bf16_host, same_cpu), "presence")[0].status == FAIL


STORED_ORT = Path(__file__).parents[3] / "baselines" / "x86-cpu-onnxruntime"
# The default retrained and re-run on a 2-core AMD EPYC with AVX2 only (no AVX-512 VNNI): other weights.
RETRAINED_ON_AVX2 = {"teacher/x86-cpu-onnxruntime/fp32": 98.52, "teacher/x86-cpu-onnxruntime/int8": 98.52,
                     "student/x86-cpu-onnxruntime/fp32": 98.52, "student/x86-cpu-onnxruntime/int8": 98.33,
                     "student-pruned/x86-cpu-onnxruntime/fp32": 98.89,
                     "student-pruned/x86-cpu-onnxruntime/int8": 98.70}


def retrained_run(tmp_path, accuracy: dict[str, float]) -> Path:
    report = json.loads((STORED_ORT / "report.json").read_text())
    for row in report["results"]:
        row["accuracy"] = accuracy[row["artifact_id"]]
    manifest = json.loads((STORED_ORT / "manifest.json").read_text())
    return write_run(tmp_path / "retrained", report, with_flags(manifest, ["avx2"]))


def test_the_stored_baseline_gates_a_run_retrained_on_another_cpu(tmp_path):
    comparison = api.compare(STORED_ORT, retrained_run(tmp_path, RETRAINED_ON_AVX2))
    assert comparison.passed, [r.message for r in comparison.results if r.failed]
    assert {r.status for r in by_gate(comparison, "latency")} == {SKIPPED}
    regressed = {**RETRAINED_ON_AVX2, "teacher/x86-cpu-onnxruntime/int8": 97.40}  # INT8 lost 1.1 pp to FP32
    failed = [r for r in api.compare(STORED_ORT, retrained_run(tmp_path / "r", regressed)).results if r.failed]
    assert [(r.gate, r.subject) for r in failed] == [("accuracy", "teacher/x86-cpu-onnxruntime/int8 [default]")]


def test_pareto_front_keeps_only_undominated_points():
    points = [(1.5, 98.9), (0.5, 98.7), (0.6, 98.5), (0.8, 98.8), (0.2, 98.3), (2.0, 98.9)]
    assert pareto_front(points) == [4, 1, 3, 0]
    assert pareto_front([]) == []


def test_a_busy_machine_is_named_as_the_likely_cause(tmp_path):
    quiet = timings(1.0, n=300, spread=0.02, seed=1)
    busy = timings(1.6, n=300, spread=0.5, seed=2)
    result = latency_status(tmp_path, quiet, busy)
    assert result.status == FAIL and "the machine was likely busy" in result.message


def test_vs_teacher_basis_cancels_a_uniformly_slower_machine(tmp_path, baseline):
    slower = [with_timings(r, [v * 1.5 for v in r.samples_ms]) for r in default_rows()]
    new = write_run(tmp_path / "slow-host", make_report(slower), make_manifest())
    assert not api.compare(baseline, new).passed
    relative = api.compare(baseline, new, GateThresholds(latency_basis="vs-teacher"))
    assert relative.passed
    statuses = {r.subject: r.status for r in by_gate(relative, "latency")}
    assert statuses["teacher/x86-cpu-onnxruntime/fp32 [default] batch 1 threads 2"] == SKIPPED
    assert statuses["student/x86-cpu-onnxruntime/int8 [default] batch 1 threads 2"] == PASS


def test_vs_teacher_basis_still_catches_the_fp32_swap(tmp_path, baseline):
    new = write_run(tmp_path / "new", with_int8_replaced_by_fp32(make_report(default_rows())), make_manifest())
    relative = api.compare(baseline, new, GateThresholds(latency_basis="vs-teacher"))
    failed = [r for r in by_gate(relative, "latency") if r.status == FAIL]
    assert failed and all("/int8" in r.subject for r in failed)
    assert "relative to the FP32 teacher" in failed[0].message


def test_a_manifest_or_benchmark_file_is_pointed_to_the_report(tmp_path, baseline):
    with pytest.raises(ReportInputError, match="'edge_pipeline.bundle' file, not a run report"):
        api.compare(baseline / "manifest.json", baseline)


def test_a_malformed_row_is_one_line_naming_the_file_and_the_row(tmp_path, baseline):
    report = make_report(default_rows())
    del report["results"][2]["latency_ms"]["p50"]
    report["results"][2]["batch_size"] = "two"
    broken = write_run(tmp_path / "broken", report)
    with pytest.raises(ReportInputError) as error:
        api.compare(baseline, broken)
    message = str(error.value)
    assert str(broken / "report.json") in message and "results[2] (student/x86-cpu-onnxruntime/fp32)" in message
    assert "batch_size" in message and "latency_ms.p50" in message and "\n" not in message
    assert error.value.exit_code == 2


def test_a_row_with_an_unknown_field_is_refused(tmp_path, baseline):
    report = make_report(default_rows())
    report["results"][0]["latency_p50"] = 1.0  # a typo'd field must not pass silently
    with pytest.raises(ReportInputError, match=r"results\[0\] .*latency_p50"):
        api.compare(baseline, write_run(tmp_path / "typo", report))


def test_simulated_rows_take_a_simulated_baseline_and_claim_no_speedup():
    real = make_row("teacher", "fp32", median_ms=2.0, accuracy=98.0, size_bytes=1000, variant="native")
    simulated_fp32 = make_row("teacher", "fp32", median_ms=1.0, accuracy=98.0, size_bytes=1000,
                              variant="stand-in", simulated=True)
    simulated_int8 = make_row("student", "int8", median_ms=0.5, accuracy=97.0, size_bytes=250,
                              variant="stand-in", simulated=True)
    ratios = {(r.artifact_id, r.simulated): r for r in add_ratios([real, simulated_fp32, simulated_int8])}
    student = ratios[("student/x86-cpu-onnxruntime/int8", True)]
    assert student.baseline_artifact_id == "teacher/x86-cpu-onnxruntime/fp32"
    assert student.speedup_vs_baseline is None and student.size_ratio_vs_baseline == 0.25
    assert student.accuracy_delta_vs_baseline == pytest.approx(-1.0)
    assert ratios[("teacher/x86-cpu-onnxruntime/fp32", False)].speedup_vs_baseline == 1.0


def test_only_the_reference_variant_is_the_baseline():
    rows = add_ratios(default_rows())
    bf16 = next(r for r in rows if r.runtime_variant == "bf16")
    f32 = next(r for r in rows if r.runtime_variant == "f32")
    assert bf16.baseline_artifact_id == f32.artifact_id
    assert bf16.speedup_vs_baseline == pytest.approx(f32.latency_ms.p50 / bf16.latency_ms.p50)
    unreferenced = add_ratios([changed(r, reference_variant=False) for r in default_rows()])
    assert all(r.baseline_artifact_id is None and r.speedup_vs_baseline is None for r in unreferenced)


def test_add_ratios_returns_new_rows_and_leaves_its_input_alone():
    rows = default_rows()
    before = [r.model_dump() for r in rows]
    with_ratios = add_ratios(rows)
    assert [r.model_dump() for r in rows] == before
    assert all(r.baseline_artifact_id is not None for r in with_ratios)


@pytest.mark.parametrize("stored", STORED_BASELINES, ids=lambda p: p.parent.name)
def test_stored_baselines_load_and_keep_their_ratios(stored):
    run = load_run(stored)
    recomputed = add_ratios(run.rows)
    assert [r.baseline_artifact_id for r in recomputed] == [r.baseline_artifact_id for r in run.rows]
    assert [r.speedup_vs_baseline for r in recomputed] == pytest.approx([r.speedup_vs_baseline for r in run.rows])
    # Every stored field reads back unchanged (fields added to rows since default in the model).
    stored_rows = json.loads(stored.read_text())["results"]
    assert [{k: v for k, v in r.model_dump(mode="json").items() if k in raw}
            for r, raw in zip(run.rows, stored_rows, strict=True)] == stored_rows
