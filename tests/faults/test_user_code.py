"""Users' code runs fenced: the recipe's metric and data providers get copies, run within a time limit,
and an exception, sys.exit() or a timeout inside them is one line naming the function, its file and
its line. A refused run writes no bundle and leaves the user's files as they were."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import numpy as np
import pytest

from edge_pipeline.errors import DataError
from tests.conftest import tiny_recipe_dict, write_recipe
from tests.faults.harness import assert_one_line_error, run_cli, snapshot

ALL = ["export", "quantize", "benchmark"]

METRIC_HEAD = """\
import sys
import time

import numpy as np


def metric(outputs, labels):
"""

# Each body: the metric's lines after its def (indented by 4); the line the error must name is the
# file's line number of the body's marked statement.
EDITS_LABELS = """\
    figures = {"accuracy": float((outputs["output"].argmax(1) == labels).mean() * 100),
               "labels_sum": float(labels.sum()), "output_sum": float(outputs["output"].sum())}
    labels[:] = 0  # in place: must not reach any later figure
    outputs["output"][:] = 0
    return figures
"""
EXITS = """\
    sys.exit(0)  # marked
"""
RAISES = """\
    scores = outputs["output"]
    return {"accuracy": float(np.mean(scores[labels.nosuch]))}  # marked
"""
SLEEPS = """\
    time.sleep(30)  # marked
    return {"accuracy": 0.0}
"""


def _hook(folder: Path, body: str) -> int:
    """Write hook.py; the line number of the body's '# marked' statement (0 if none)."""
    text = METRIC_HEAD + body
    (folder / "hook.py").write_text(text)
    marked = [i for i, line in enumerate(text.splitlines(), 1) if "# marked" in line]
    return marked[0] if marked else 0


def _run_with_metric(tmp_path, tiny_data, capsys, body: str, stages: list[str], timeout_s: float | None = None):
    line = _hook(tmp_path, body)
    metric = {"function": "hook.py:metric", **({"timeout_s": timeout_s} if timeout_s else {})}
    recipe = write_recipe(tmp_path / "recipe.yaml", tiny_recipe_dict(
        tiny_data, metric=metric, stages=stages, benchmark={"warmup": 1, "iterations": 2, "rounds": 1}))
    before = snapshot(tmp_path)
    code, out, err = run_cli(capsys, "run", recipe, "--out", tmp_path / "bundle")
    return code, err, line, before


def test_a_metric_that_edits_its_arguments_changes_no_later_figure(tmp_path, tiny_data, capsys):
    code, err, _, _ = _run_with_metric(tmp_path, tiny_data, capsys, EDITS_LABELS, ALL)
    assert code == 0, err
    labels = np.load(tiny_data["eval"])["y"]
    report = json.loads((tmp_path / "bundle" / "report.json").read_text())
    rows = report["results"]
    assert {row["precision"] for row in rows} >= {"fp32", "int8"}
    for row in rows:
        assert row["metrics"]["labels_sum"] == float(labels.sum()), row["artifact_id"]
        assert row["metrics"]["output_sum"] != 0.0, row["artifact_id"]


@pytest.mark.parametrize(("body", "fragments"), [
    (EXITS, ["metric 'hook.py:metric'", "called sys.exit(0)"]),
    (RAISES, ["metric 'hook.py:metric'", "raised AttributeError", "nosuch"]),
], ids=["sys-exit", "raises"])
def test_a_metric_that_exits_or_raises_is_one_line_naming_its_file_and_line(tmp_path, tiny_data, capsys, body,
                                                                             fragments):
    code, err, line, before = _run_with_metric(tmp_path, tiny_data, capsys, body, ALL)
    assert_one_line_error(code, err, DataError.exit_code, *fragments, f"hook.py line {line}")
    assert not (tmp_path / "bundle").exists()
    assert snapshot(tmp_path) == before


def test_a_metric_past_its_time_limit_ends_the_run_naming_the_line(tmp_path, tiny_data, capsys):
    code, err, line, before = _run_with_metric(tmp_path, tiny_data, capsys, SLEEPS, ALL,
                                               timeout_s=0.5)
    assert_one_line_error(code, err, DataError.exit_code, "metric 'hook.py:metric'", "did not return within 0.5 s",
                          "metric.timeout_s", f"hook.py line {line}", "run ends here")
    assert not (tmp_path / "bundle").exists()
    assert snapshot(tmp_path) == before


PROVIDER = """\
import sys
import time

import numpy as np


def provide():
{body}
"""


@pytest.mark.parametrize(("body", "settings", "fragments"), [
    ("    sys.exit(3)  # marked", {}, ["called sys.exit(3)"]),
    ("    raise RuntimeError('no such bucket')  # marked", {}, ["raised RuntimeError: no such bucket"]),
    ("    time.sleep(30)  # marked", {"provider_timeout_s": 0.5},
     ["did not return within 0.5 s", "data.calibration.provider_timeout_s"]),
    ("    for i in range(4):\n        if i == 2:\n            time.sleep(30)  # marked\n"
     "        yield {'input': np.zeros((3, 8, 8), np.float32)}", {"provider_timeout_s": 0.5},
     ["did not return within 0.5 s"]),
], ids=["sys-exit", "raises", "sleeps", "generator-sleeps"])
def test_a_provider_that_exits_raises_or_hangs_is_one_line(tmp_path, tiny_data, capsys, body, settings, fragments):
    text = PROVIDER.format(body=body)
    (tmp_path / "data_hook.py").write_text(text)
    line = next(i for i, row in enumerate(text.splitlines(), 1) if "# marked" in row)
    recipe = write_recipe(tmp_path / "recipe.yaml", tiny_recipe_dict(
        tiny_data, stages=["export"],
        data={"calibration": {"provider": "data_hook.py:provide", **settings}}))
    before = snapshot(tmp_path)
    code, _, err = run_cli(capsys, "run", recipe, "--out", tmp_path / "bundle")
    assert_one_line_error(code, err, DataError.exit_code, "data.calibration.provider 'data_hook.py:provide'",
                          *fragments, f"data_hook.py line {line}")
    assert not (tmp_path / "bundle").exists()
    assert snapshot(tmp_path) == before


def test_the_limit_is_bounded_and_its_default_stated():
    from edge_pipeline.config.data import DatasetSpec
    from edge_pipeline.config.schema import MetricSpec

    assert MetricSpec(function="m:f").timeout_s == 60.0
    assert "default 60" in MetricSpec.model_fields["timeout_s"].description
    assert "default 600" in DatasetSpec.model_fields["provider_timeout_s"].description
    with pytest.raises(ValueError, match="out of range"):
        MetricSpec(function="m:f", timeout_s=0)


def test_ctrl_c_inside_a_metric_is_an_interrupt_not_an_error():
    from edge_pipeline.calibration.fenced import call_fenced

    def interrupted():
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        call_fenced(interrupted, what="metric 'x'", timeout_s=5, setting="metric.timeout_s")


def test_fenced_call_names_the_users_file_not_a_library_frame(tmp_path):
    from edge_pipeline.calibration.fenced import call_fenced

    source = textwrap.dedent("""\
        import numpy as np

        def score(values):
            return np.linalg.inv(values)  # marked
        """)
    path = tmp_path / "user_score.py"
    path.write_text(source)
    namespace: dict = {}
    exec(compile(source, str(path), "exec"), namespace)
    with pytest.raises(DataError, match=r"raised LinAlgError: .* line 4$"):
        call_fenced(lambda: namespace["score"](np.zeros((2, 2))), what="metric 'user_score.py:score'",
                    timeout_s=5, setting="metric.timeout_s", user=namespace["score"])
