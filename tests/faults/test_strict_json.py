"""report.json and manifest.json parse with a strict parser (no NaN or Infinity, which JavaScript's
JSON.parse and other strict readers reject), and what readers of them expect still holds.

One run over an ONNX source (no torch export) serves every test of the module."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from edge_pipeline import api
from edge_pipeline.artifacts.atomic import write_strict_json
from edge_pipeline.benchmarking.fidelity import SQNR_NOTES, OutputFidelity, output_fidelity
from edge_pipeline.benchmarking.rows import BenchmarkRow
from tests.conftest import tiny_recipe_dict, write_recipe
from tests.faults.test_outputs import tiny_onnx

STORED = Path(__file__).parents[2] / "baselines"


def strict_loads(text: str):
    return json.loads(text, parse_constant=lambda constant: pytest.fail(f"not JSON: {constant}"))


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    import numpy as np

    from edge_pipeline.testing.tiny import labelled_arrays

    root = tmp_path_factory.mktemp("strict-json")
    data = {}
    for role, seed in (("calibration", 1), ("eval", 2)):
        x, y = labelled_arrays(48, seed=seed)
        data[role] = root / f"{role}.npz"
        np.savez(data[role], x=x, y=y)
    model = tiny_onnx(root / "tiny.onnx")
    recipe = write_recipe(root / "recipe.yaml", tiny_recipe_dict(data, model={"onnx": str(model)}))
    return api.run(recipe, root / "bundle", cache_dir=root / "cache")


@pytest.mark.parametrize("name", ["report.json", "manifest.json"])
def test_bundle_files_parse_with_a_strict_parser(bundle, name):
    strict_loads((bundle / name).read_text())


def test_fp32_rows_say_why_their_sqnr_is_null_and_read_back_as_infinite(bundle):
    # The FP32 row is compared with itself: identical outputs, an infinite SQNR.
    report = strict_loads((bundle / "report.json").read_text())
    fp32 = next(row for row in report["results"] if row["precision"] == "fp32")
    figures = next(iter(fp32["fidelity"].values()))
    assert figures["sqnr_db"] is None and figures["sqnr_db_note"] == SQNR_NOTES[math.inf]
    row = BenchmarkRow.model_validate(fp32)  # what compare and the terminal summary read
    assert next(iter(row.fidelity.values())).sqnr_db == math.inf


@pytest.mark.parametrize(("reference", "got", "expected"), [
    ([1.0, 2.0], [1.0, 2.0], math.inf),
    ([0.0, 0.0], [1.0, 2.0], -math.inf),
    ([1.0, 2.0], [1.0, 2.5], None),
])
def test_sqnr_round_trips_through_strict_json(reference, got, expected):
    import numpy as np

    figures = output_fidelity(np.array(got), np.array(reference))
    text = json.dumps(figures.model_dump(mode="json"), allow_nan=False)
    back = OutputFidelity.model_validate(strict_loads(text))
    assert back == figures if expected is None else back.sqnr_db == expected


def test_a_non_finite_value_in_a_report_fails_loudly_naming_where(tmp_path):
    with pytest.raises(ValueError, match=r"report.json: .*\['results'\]\[0\]\['p50'\]"):
        write_strict_json(tmp_path / "report.json", {"results": [{"p50": math.nan}]})
    assert list(tmp_path.iterdir()) == []  # nothing half-written


@pytest.mark.parametrize("path", sorted(STORED.glob("*/*.json")), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_stored_baselines_parse_with_a_strict_parser(path):
    # CI compares against these: its parser must read them too.
    strict_loads(path.read_text())
