"""Bad data and bad configuration are refused before any work, with one line naming the thing and the
fix; data that loads but looks wrong warns; a stage with nothing to do says so. Every case runs the
CLI in this process, and the user's files stay as they were (a snapshot before and after)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import tiny_recipe_dict, write_recipe
from tests.faults.harness import assert_one_line_error, run_cli, snapshot
from tests.reports.report_factory import default_rows, make_manifest, make_report, write_run

Build = Callable[[Path, dict], list]  # (folder, tiny_data paths) -> CLI arguments


@dataclass(frozen=True)
class Case:
    build: Build
    exit_code: int
    fragments: tuple[str, ...]
    stream: str = "error"  # error: one 'error:' line; stdout / stderr: the fragments appear there
    absent: tuple[str, ...] = ()  # must not appear in the error line (e.g. the recipe file for a --set mistake)


# --- builders -------------------------------------------------------------------------------------

def _run(folder: Path, tiny_data: dict, *extra: str, **changes) -> list:
    recipe = write_recipe(folder / "r.yaml", tiny_recipe_dict(tiny_data, **changes))
    return ["run", recipe, "--out", folder / "b", *extra]


def _edit(tiny_data: dict, role: str, edit: Callable[[np.ndarray, np.ndarray], tuple]) -> None:
    with np.load(tiny_data[role]) as archive:
        x, y = edit(archive["x"].copy(), archive["y"].copy())
    np.savez(tiny_data[role], x=x, y=y)


def _set_value(x, y, index, value):
    x[index] = value
    return x, y


def edited(role: str, edit, **changes) -> Build:
    def build(folder, tiny_data):
        _edit(tiny_data, role, edit)
        return _run(folder, tiny_data, **{"stages": ["export"], **changes})
    return build


def with_set(item: str) -> Build:
    return lambda folder, tiny_data: _run(folder, tiny_data, "--set", item)


def recipe_text(text: Callable[[str], str | bytes]) -> Build:
    def build(folder, tiny_data):
        recipe = write_recipe(folder / "r.yaml", tiny_recipe_dict(tiny_data))
        content = text(recipe.read_text())
        recipe.write_bytes(content if isinstance(content, bytes) else content.encode())
        return ["run", recipe, "--out", folder / "b"]
    return build


def transfer(edit) -> Build:
    """distill trains on a copy of the calibration file with ``edit`` applied: it must fail before training."""
    def build(folder, tiny_data):
        data = folder / "transfer.npz"
        with np.load(tiny_data["calibration"]) as archive:
            x, y = edit(archive["x"].copy(), archive["y"].copy())
        np.savez(data, x=x, y=y)
        distill = {"train": {"epochs": 1}, "data": {"dataset": {"path": str(data)}}}
        return _run(folder, tiny_data, stages=["distill", "export"], distill=distill)
    return build


def calibration_path(make: Callable[[Path], Path]) -> Build:
    def build(folder, tiny_data):
        data = tiny_recipe_dict(tiny_data)["data"]
        data["calibration"] = {"path": str(make(folder))}
        return _run(folder, tiny_data, data=data, stages=["export"])
    return build


def symlink_loop(folder: Path) -> Path:
    (folder / "loop").symlink_to(folder / "loop")
    return folder / "loop"


def image_folder(extra: Callable[[Path], None]) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        from PIL import Image

        images = folder / "images"
        rng = np.random.default_rng(0)
        for label in ("a", "b"):
            (images / label).mkdir(parents=True)
            for index in range(4):
                pixels = (rng.random((8, 8, 3)) * 255).astype(np.uint8)
                Image.fromarray(pixels).save(images / label / f"{index}.png")
        extra(images)
        return images
    return make


def model(factory: str, edit=None) -> Build:
    def build(folder, tiny_data):
        if edit is not None:
            _edit(tiny_data, "calibration", edit)
        return _run(folder, tiny_data, model={"factory": factory}, stages=["export", "quantize"])
    return build


def compared(edit: Callable[[dict], None]) -> Build:
    """A baseline report and a candidate report with one field of its first row edited."""
    def build(folder, tiny_data):
        baseline = write_run(folder / "baseline", make_report(default_rows()), make_manifest())
        report = make_report(default_rows())
        edit(report["results"][0])
        candidate = write_run(folder / "candidate", report, make_manifest())
        return ["compare", baseline, candidate]
    return build


def _set(row: dict, path: str, value) -> None:
    *parents, leaf = path.split(".")
    for part in parents:
        row = row[part]
    if value is _DROP:
        row.pop(leaf)
    else:
        row[leaf] = value


_DROP = object()


def row_field(path: str, value) -> Build:
    return compared(lambda row: _set(row, path, value))


def prune_after_distill(if_budget_met: str) -> Build:
    """A narrowed student already under a 90% MACs budget: there is nothing left for prune to do."""
    def build(folder, tiny_data):
        data = {"dataset": {"path": str(tiny_data["calibration"])}}
        distill = {"student": {"width_multiplier": 0.5, "round_to": None}, "train": {"epochs": 1}, "data": data}
        prune = {"target": {"kind": "macs", "macs_fraction": 0.9}, "data": data, "if_budget_met": if_budget_met}
        return _run(folder, tiny_data, stages=["distill", "prune"], distill=distill, prune=prune)
    return build


def _not_integral(x, y):
    return x, y.astype(np.float32) + 0.5


def _out_of_range(x, y):
    y[3] = 9
    return x, y


def _few_zeros(x, y):
    return np.zeros_like(x[:3]), y[:3]


# --- the table ------------------------------------------------------------------------------------

CASES = {
    # Non-finite data: refused where it is read, naming the file, the input, the count and the first sample.
    "inf-in-calibration": Case(edited("calibration", lambda x, y: _set_value(x, y, (5, 0, 0, 0), np.inf)), 2,
                               ("calibration.npz", "input 'input'", "1 NaN or Inf", "first in sample 5")),
    "nan-in-eval": Case(edited("eval", lambda x, y: _set_value(x, y, (7, 1, 2, 2), np.nan)), 2,
                        ("eval.npz", "input 'input'", "first in sample 7")),
    "nan-in-transfer-data": Case(transfer(lambda x, y: _set_value(x, y, (0, 0, 0, 0), np.nan)), 2,
                                 ("distill.data", "transfer.npz", "first in sample 0")),
    "nan-from-a-provider": Case(
        lambda folder, tiny_data: _run(folder, tiny_data, stages=["export"], data={
            "calibration": {"provider": "edge_pipeline.testing.faulty:nan_calibration"}}),
        2, ("edge_pipeline.testing.faulty:nan_calibration", "first in sample 2")),
    # Labels: whole class indices inside the model's classes (4 for the tiny net).
    "labels-out-of-range": Case(edited("eval", _out_of_range), 2,
                                ("eval.npz", "outside 0..3", "output 'output'", "sample 3 (label 9)")),
    "labels-not-integral": Case(edited("eval", _not_integral), 2, ("eval.npz", "whole class indices", "sample 0")),
    "transfer-labels-out-of-range": Case(transfer(_out_of_range), 2, ("distill.data", "outside 0..3")),
    # Recipes and --set.
    "duplicate-yaml-key": Case(recipe_text(lambda text: text + "stages: [export]\n"), 2,
                               ("r.yaml", "line ", "key 'stages' is given twice")),
    "binary-recipe": Case(recipe_text(lambda text: bytes(range(256)) * 4), 2, ("r.yaml", "not a text file")),
    "set-invalid-yaml": Case(with_set("quantize.samples=[1,"), 2, ("--set 'quantize.samples=[1,'", "not a plain"),
                             absent=("r.yaml",)),
    "set-python-tag": Case(with_set("quantize.samples=!!python/object:os.system x"), 2,
                           ("--set 'quantize.samples=!!python/object:os.system x'", "python/object"),
                           absent=("r.yaml",)),
    "set-wrong-type": Case(with_set("quantize.samples=many"), 2, ("--set 'quantize.samples=many'",),
                           absent=("r.yaml",)),
    "set-into-a-list": Case(with_set("stages.first=export"), 2, ("--set 'stages.first=export'", "not a section"),
                            absent=("r.yaml",)),
    # Paths that cannot be read.
    "symlink-loop-as-data": Case(calibration_path(symlink_loop), 2,
                                 ("data.calibration.path", "loop", "cannot be resolved")),
    "symlink-loop-in-image-folder": Case(
        calibration_path(image_folder(lambda images: (images / "a" / "x.png").symlink_to(images / "a" / "x.png"))),
        2, ("x.png", "cannot be read")),
    "corrupt-image": Case(calibration_path(image_folder(lambda images: (images / "b" / "bad.png").write_bytes(b"no"))),
                          2, ("bad.png", "cannot be read")),
    # Models that turn data into NaN: refused at export, naming the output (and the sample).
    "model-outputs-nan": Case(model("edge_pipeline.testing.faulty:nan_net"), 4, ("output 'output'", "NaN or Inf")),
    "model-nan-on-one-sample": Case(
        model("edge_pipeline.testing.faulty:nan_on_outliers_net",
              lambda x, y: _set_value(x, y, (40, 0, 0, 0), 1000.0)),
        4, ("output 'output'", "calibration sample 40")),
    # compare: a candidate that lost a figure fails; a malformed row is one line naming row and field.
    "compare-null-accuracy": Case(row_field("accuracy", None), 5, ("FAIL", "accuracy", "None"), "stdout"),
    "compare-missing-accuracy": Case(row_field("accuracy", _DROP), 5, ("FAIL", "accuracy"), "stdout"),
    "compare-nan-latency": Case(row_field("latency_ms.p50", float("nan")), 5,
                                ("FAIL", "latency_ms.p50 is nan"), "stdout"),
    "compare-empty-latency": Case(row_field("latency_ms", {}), 2, ("results[0]", "latency_ms.p50")),
    "compare-latency-not-a-number": Case(row_field("latency_ms.p50", "fast"), 2, ("results[0]", "latency_ms.p50")),
    # A prune budget the input model already meets.
    "prune-budget-met-fail": Case(prune_after_distill("fail"), 2,
                                  ("already has", "within the budget", "if_budget_met=skip")),
    "prune-budget-met-skip": Case(prune_after_distill("skip"), 0, ("prune skipped", "'student' unchanged"), "stderr"),
    # Data that loads but looks wrong (3 samples, all zeros): a warning for each, and the run goes on.
    "few-all-zero-calibration": Case(edited("calibration", _few_zeros), 0,
                                     ("warning: calibration data", "holds 3 samples, fewer than 8", "constant 0"),
                                     "stderr"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_refused_or_reported(name, tmp_path, tiny_data, capsys):
    case = CASES[name]
    argv = case.build(tmp_path, tiny_data)
    before = snapshot(tmp_path)
    code, out, err = run_cli(capsys, *argv)
    if case.stream == "error":
        assert_one_line_error(code, err, case.exit_code, *case.fragments)
        line = next(line for line in err.splitlines() if line.startswith("error: "))
        assert not any(text in line for text in case.absent), line
    else:
        assert code == case.exit_code, (code, err[-2000:])
        assert "Traceback" not in err
        for fragment in case.fragments:
            # Gate verdicts are printed, not raised: wherever the CLI prints them, they must be there.
            assert fragment in (out + err if case.stream == "stdout" else err), (fragment, out, err[-2000:])
    after = {path: digest for path, digest in snapshot(tmp_path).items() if not path.startswith("b/")}
    assert after == before, "the user's files changed"
    if code != 0:
        assert not (tmp_path / "b").exists(), "a failed run must not leave a bundle"
    assert not list(tmp_path.glob(".b.*")), "no temp leftovers"


def test_skipped_prune_leaves_no_pruned_model_and_notes_why(tmp_path, tiny_data, capsys):
    argv = prune_after_distill("skip")(tmp_path, tiny_data)
    code, _, err = run_cli(capsys, *argv)
    assert code == 0, err[-2000:]
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    assert [a["model"] for a in manifest["artifacts"]] == ["student"]
    report = json.loads((tmp_path / "b" / "report.json").read_text())
    assert any(note.startswith("prune skipped:") for note in report["notes"])
