"""`edge-pipeline compare`: exit codes, and JUnit XML and Markdown that tell the same story."""

import re
import xml.etree.ElementTree as ET

import pytest

from edge_pipeline.cli.main import main
from tests.reports.report_factory import default_rows, make_manifest, make_report, with_int8_replaced_by_fp32, write_run


@pytest.fixture
def runs(tmp_path):
    report = make_report(default_rows())
    return {
        "base": write_run(tmp_path / "base", report, make_manifest()),
        "swapped": write_run(tmp_path / "swapped", with_int8_replaced_by_fp32(report), make_manifest()),
        "other": write_run(tmp_path / "other", make_report(default_rows(), recipe="other")),
    }


def compare(runs, tmp_path, new, *extra):
    junit, markdown = tmp_path / "gates.xml", tmp_path / "gates.md"
    code = main(["compare", str(runs["base"]), str(runs[new]), "--junit", str(junit), "--markdown", str(markdown),
                 *extra])
    return code, ET.parse(junit).getroot(), markdown.read_text()


def junit_cases(root):
    return [(case.get("classname"), case.get("name"), case.find("failure")) for case in root.iter("testcase")]


def test_self_comparison_exits_zero_and_both_outputs_say_passed(runs, tmp_path, capsys):
    code, root, markdown = compare(runs, tmp_path, "base")
    assert code == 0
    assert root.get("failures") == "0" and int(root.get("tests")) == len(junit_cases(root)) > 0
    assert markdown.startswith("## ✅ release gates PASSED: 0 failed")
    assert "release gates PASSED" in capsys.readouterr().out


def test_swapped_int8_fails_with_the_same_failures_in_junit_and_markdown(runs, tmp_path, capsys):
    code, root, markdown = compare(runs, tmp_path, "swapped")
    assert code == 5
    failures = {(cls.removeprefix("gates."), name, fail.get("message"))
                for cls, name, fail in junit_cases(root) if fail is not None}
    assert int(root.get("failures")) == len(failures) > 0
    listed = set(re.findall(r"^- \*\*(\w+)\*\* `([^`]+)`: (.+)$", markdown.split("### All gates")[0], re.M))
    assert listed == failures
    assert ("latency", "teacher/x86-cpu-onnxruntime/int8 [default] batch 1 threads 2") in {
        (g, s) for g, s, _ in failures
    }
    assert markdown.count("❌ FAIL") == len(failures)
    out = capsys.readouterr().out
    assert "FAIL" in out and "latency regressed beyond the +5% limit" in out and "release gates FAILED" in out


def test_one_testcase_per_gate_in_junit_matches_the_markdown_table(runs, tmp_path):
    _, root, markdown = compare(runs, tmp_path, "swapped")
    table_rows = [line for line in markdown.split("### All gates")[1].splitlines()
                  if line.startswith("| ") and "`" in line]
    assert len(table_rows) == len(junit_cases(root))


def test_thresholds_are_parsed_and_applied(runs, tmp_path):
    code, root, _ = compare(runs, tmp_path, "swapped", "--max-latency-regression", "500%", "--max-size-growth", "400")
    assert code == 0 and root.get("failures") == "0"


def test_a_bad_threshold_is_a_usage_error(runs, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["compare", str(runs["base"]), str(runs["base"]), "--max-latency-regression", "five"])
    assert exit_info.value.code == 2 and "is not a percentage" in capsys.readouterr().err


def test_mismatched_recipes_exit_6_with_a_message(runs, tmp_path, capsys):
    assert main(["compare", str(runs["base"]), str(runs["other"])]) == 6
    assert "error: baseline" in capsys.readouterr().err


def test_unknown_schema_exits_8(runs, tmp_path, capsys):
    report = make_report(default_rows())
    report["schema_version"] = 99
    future = write_run(tmp_path / "future", report)
    assert main(["compare", str(runs["base"]), str(future)]) == 8
    assert "schema_version 99 is unknown" in capsys.readouterr().err


def test_baseline_missing_artifact_exits_7(tmp_path, capsys):
    base = write_run(tmp_path / "b", make_report([r for r in default_rows() if r.precision == "fp32"]))
    new = write_run(tmp_path / "n", make_report(default_rows()))
    assert main(["compare", str(base / "report.json"), str(new)]) == 7
    assert "has no measurement for" in capsys.readouterr().err


def test_a_malformed_row_exits_2_with_one_line(runs, tmp_path, capsys):
    report = make_report(default_rows())
    report["results"][0]["threads"] = "many"
    broken = write_run(tmp_path / "broken", report)
    assert main(["compare", str(runs["base"]), str(broken)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "results[0] (teacher/x86-cpu-onnxruntime/fp32)" in err and "Traceback" not in err


def test_a_multi_target_bundle_against_a_one_target_baseline(tmp_path, capsys):
    # The quickstart's bundle has every default target; scripts/release stores one baseline per target.
    base = write_run(tmp_path / "b", make_report([r for r in default_rows() if r.target == "x86-cpu-onnxruntime"]),
                     make_manifest())
    bundle = write_run(tmp_path / "bundle", make_report(default_rows()), make_manifest())
    assert main(["compare", str(base), str(bundle)]) == 7
    assert "pass --only-baseline-targets" in capsys.readouterr().err
    assert main(["compare", str(base), str(bundle), "--only-baseline-targets"]) == 0
    captured = capsys.readouterr()
    assert "release gates PASSED" in captured.out
    assert "not gated: the new run's targets x86-cpu-openvino have no rows in the baseline" in captured.err


def test_latency_across_cpus_is_skipped_unless_forced(runs, tmp_path, capsys):
    report = with_int8_replaced_by_fp32(make_report(default_rows()))
    other_cpu = write_run(tmp_path / "xeon", report, make_manifest(cpu="Intel Xeon"))
    code, root, markdown = compare({**runs, "xeon": other_cpu}, tmp_path, "xeon", "--max-size-growth", "400")
    assert code == 0 and "not comparable: different CPU" in markdown
    assert int(root.get("skipped")) == sum(1 for r in default_rows())
    assert main(["compare", str(runs["base"]), str(other_cpu), "--latency-across-cpus"]) == 5
    assert "latency regressed beyond" in capsys.readouterr().out


def test_accuracy_limits_are_parsed(runs, tmp_path):
    _, root, markdown = compare(runs, tmp_path, "base", "--max-accuracy-drop", "0.3pp", "--max-accuracy-drift", "1.5")
    properties = {p.get("name"): p.get("value") for p in root.iter("property")}
    assert properties["max_accuracy_drop_pp"] == "0.3" and properties["max_accuracy_drift_pp"] == "1.5"
    assert "-0.3 pp against the run's own FP32 reference and -1.5 pp absolute" in markdown
