"""A recipe's model.name replaces 'teacher': its FP32 rows stay every other row's baseline."""

from edge_pipeline.reports.json_report import add_ratios, is_baseline, own_model
from tests.reports.report_factory import make_artifacts, make_row


def test_baseline_follows_the_model_name():
    artifacts = [{**a, "model": "resnet" if a["model"] == "teacher" else a["model"]} for a in make_artifacts()]
    assert own_model(artifacts) == "resnet" and own_model(make_artifacts()) == "teacher" and own_model([]) == "teacher"
    rows = [make_row("resnet", "fp32", median_ms=2.0, accuracy=99.0, size_bytes=4000),
            make_row("resnet", "int8", median_ms=1.0, accuracy=98.5, size_bytes=1000)]
    fp32, int8 = add_ratios(rows, own_model(artifacts))
    assert int8.baseline_artifact_id == fp32.artifact_id and int8.size_ratio_vs_baseline == 0.25
    assert is_baseline(fp32) and not is_baseline(int8)  # rows of a finished report mark their baseline
    assert add_ratios(rows)[1].baseline_artifact_id is None  # the default name finds no 'resnet' row
