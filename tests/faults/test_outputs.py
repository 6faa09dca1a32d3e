"""Output safety: --out replaces only a folder this tool wrote (or an empty one), every refusal is
one line with exit code 9 before any stage runs, and nothing of the user's changes.

The runs use an ONNX-source recipe (no torch export, a second or two); refusals take milliseconds.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edge_pipeline.artifacts import outputs
from edge_pipeline.artifacts.outputs import MARKER, write_marker
from edge_pipeline.errors import OutputError
from tests.conftest import tiny_recipe_dict, write_recipe
from tests.faults.harness import assert_one_line_error, run_cli, snapshot

REFUSED = OutputError.exit_code


def tiny_onnx(path: Path) -> Path:
    """Flatten + Gemm over the tiny data's (N, 3, 8, 8) inputs: an ONNX source with no torch export."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weight = np.random.default_rng(0).standard_normal((192, 10)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("Flatten", ["input"], ["flat"]), helper.make_node("Gemm", ["flat", "w", "b"], ["output"])],
        "tiny", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, 8, 8])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", 10])],
        [numpy_helper.from_array(weight, "w"), numpy_helper.from_array(np.zeros(10, np.float32), "b")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    onnx.save(model, str(path))
    return path


@pytest.fixture
def workspace(tmp_path, tiny_data, monkeypatch):
    """A user's folder (the cwd) with files, a recipe over an ONNX source, and a scratch area."""
    work = tmp_path / "work"
    (work / "src").mkdir(parents=True)
    (work / "src" / "train.py").write_text("print('mine')\n")
    (work / "notes.txt").write_text("keep me\n")
    (tmp_path / "userdir").mkdir()
    (tmp_path / "userdir" / "photo.jpg").write_bytes(b"\xff\xd8 a user's photo")
    model = tiny_onnx(tmp_path / "tiny.onnx")
    recipe = write_recipe(tmp_path / "recipe.yaml", tiny_recipe_dict(tiny_data, model={"onnx": str(model)},
                                                                    stages=["export"]))
    monkeypatch.chdir(work)
    return {"root": tmp_path, "work": work, "recipe": recipe, "model": model, "data": tiny_data["calibration"]}


def _user_file(ws) -> str:
    (ws["work"] / "results.txt").write_text("mine\n")
    return str(ws["work"] / "results.txt")


def _marked_holder_of_data(ws) -> str:
    folder = ws["root"] / "old-bundle"
    folder.mkdir()
    write_marker(folder, "bundle")
    (folder / "calibration.npz").write_bytes(ws["data"].read_bytes())
    write_recipe(ws["recipe"], tiny_recipe_dict({"calibration": folder / "calibration.npz", "eval": ws["data"]},
                                                model={"onnx": str(ws["model"])}, stages=["export"]))
    return str(folder)


def _marked_holder_of_model(ws) -> str:
    folder = ws["root"] / "models"
    folder.mkdir()
    write_marker(folder, "quantize")
    ws["model"] = tiny_onnx(folder / "tiny.onnx")
    return str(folder)


# (id, command, how --out is made from the workspace, message fragments)
REFUSALS = [
    ("run-cwd", "run", lambda ws: ".", ["--out .", "current folder", "new folder"]),
    ("run-cwd-parent", "run", lambda ws: "..", ["--out ..", "current folder"]),
    ("run-user-folder", "run", lambda ws: str(ws["root"] / "userdir"),
     ["userdir", "did not write", "choose a new folder or an empty one"]),
    ("run-user-subfolder", "run", lambda ws: "src", ["--out src", "did not write", "new folder"]),
    ("run-file", "run", _user_file, ["results.txt", "is a file", "new folder"]),
    ("run-root", "run", lambda ws: "/", ["--out /", "filesystem root"]),
    ("run-holds-input", "run", _marked_holder_of_data, ["holds the input", "calibration.npz"]),
    ("export-user-folder", "export", lambda ws: "src", ["--out src", "did not write", "new folder"]),
    ("export-recipe-file", "export", lambda ws: str(ws["recipe"]), ["is the input", "recipe.yaml"]),
    ("quantize-user-folder", "quantize", lambda ws: "src", ["--out src", "did not write", "new folder"]),
    ("quantize-holds-model", "quantize", _marked_holder_of_model, ["holds the input", "tiny.onnx"]),
]


def _argv(command: str, ws, out: str) -> list[str]:
    if command == "quantize":
        return ["quantize", str(ws["model"]), "--calibration", str(ws["data"]), "--out", out]
    return [command, str(ws["recipe"]), "--out", out]


@pytest.mark.parametrize(("command", "make_out", "fragments"), [case[1:] for case in REFUSALS],
                         ids=[case[0] for case in REFUSALS])
def test_refused_outputs_are_left_untouched(workspace, capsys, command, make_out, fragments):
    out = make_out(workspace)
    before = snapshot(workspace["root"])
    code, _, err = run_cli(capsys, *_argv(command, workspace, out))
    assert_one_line_error(code, err, REFUSED, *fragments)
    assert "start" not in err, "the output is checked before any stage runs"
    assert snapshot(workspace["root"]) == before


def test_previous_bundle_is_replaced(workspace, capsys):
    bundle = workspace["work"] / "bundle"
    bundle.mkdir()
    write_marker(bundle, "bundle")
    (bundle / "stale.txt").write_text("from the last run\n")
    code, out, err = run_cli(capsys, "export", workspace["recipe"], "--out", "bundle")
    assert code == 0, err
    assert Path(out.strip()) == bundle.resolve()
    assert (bundle / "manifest.json").is_file() and not (bundle / "stale.txt").exists()
    assert outputs.is_marked(bundle)
    assert (workspace["work"] / "notes.txt").read_text() == "keep me\n"


def test_empty_folder_is_used(workspace, capsys):
    (workspace["work"] / "empty").mkdir()
    code, _, err = run_cli(capsys, "run", workspace["recipe"], "--out", "empty")
    assert code == 0, err
    assert (workspace["work"] / "empty" / "manifest.json").is_file()
    marker = json.loads((workspace["work"] / "empty" / MARKER).read_text())
    assert marker["tool"] == "edge-pipeline" and marker["kind"] == "bundle" and marker["version"]
    manifest = json.loads((workspace["work"] / "empty" / "manifest.json").read_text())
    assert MARKER not in manifest["files"], "the marker is written last, after the manifest"


def test_quantize_output_is_marked_and_replaceable(workspace, capsys):
    argv = _argv("quantize", workspace, "q")
    assert run_cli(capsys, *argv)[0] == 0
    assert outputs.is_marked(workspace["work"] / "q")
    code, _, err = run_cli(capsys, *argv)
    assert code == 0, err


def test_benchmark_out_folder_gets_benchmark_json(workspace, capsys):
    results = workspace["work"] / "results"
    results.mkdir()
    (results / "mine.txt").write_text("keep\n")
    code, out, err = run_cli(capsys, "benchmark", workspace["model"], "--iterations", "5", "--warmup", "1",
                             "--out", "results")
    assert code == 0, err
    assert '"written": "results/benchmark.json"' in out
    assert (results / "benchmark.json").is_file() and (results / "benchmark.csv").is_file()
    assert (results / "mine.txt").read_text() == "keep\n"


@pytest.mark.parametrize(("out", "fragments"), [
    ("/", ["--out /", "filesystem root"]),
    ("{model}", ["is one of the inputs"]),
    ("x.csv", ["where the CSV goes too", "--csv"]),
])
def test_benchmark_refusals_come_before_timing(workspace, capsys, out, fragments):
    before = snapshot(workspace["root"])
    code, _, err = run_cli(capsys, "benchmark", workspace["model"], "--out", out.format(model=workspace["model"]))
    assert_one_line_error(code, err, REFUSED, *fragments)
    assert snapshot(workspace["root"]) == before


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_killed_runs_leftovers_are_removed_live_ones_kept(workspace, capsys):
    work, dead = workspace["work"], _dead_pid()
    stale = [work / f".bundle.{dead}.abcd1234.partial", work / f".bundle.{dead}.partial", work / f".bundle.old-{dead}"]
    for folder in stale:
        (folder / "artifacts").mkdir(parents=True)
        (folder / "artifacts" / "model.onnx").write_bytes(b"x" * 1024)
    live = work / f".bundle.{os.getpid()}.zzzz9999.partial"
    live.mkdir()
    not_ours = work / ".bundle.notes.partial"
    not_ours.write_text("a user's file that only looks like ours\n")
    (work / "bundle").mkdir()
    write_marker(work / "bundle", "bundle")
    code, _, err = run_cli(capsys, "export", workspace["recipe"], "--out", "bundle")
    assert code == 0, err
    assert not any(folder.exists() for folder in stale)
    assert live.is_dir() and not_ours.is_file()


def test_package_write_errors_become_output_errors(workspace, capsys, monkeypatch):
    """EACCES/ENOSPC while the bundle is written: one line naming the path, no partial folder."""
    bundle = workspace["work"] / "bundle"
    bundle.mkdir()
    write_marker(bundle, "bundle")
    (bundle / "report.json").write_text("{}\n")
    before = snapshot(workspace["work"])

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(bundle / "report.md"))

    monkeypatch.setattr("edge_pipeline.stages.package.render_markdown", refuse)
    code, _, err = run_cli(capsys, "export", workspace["recipe"], "--out", "bundle")
    assert_one_line_error(code, err, REFUSED, "cannot write --out", "Permission denied", "report.md")
    assert snapshot(workspace["work"]) == before
    assert sorted(p.name for p in workspace["work"].iterdir()) == ["bundle", "notes.txt", "src"]


# Filesystems that are full or read-only: a small tmpfs (needs root / CAP_SYS_ADMIN).


@pytest.fixture
def small_fs(tmp_path):
    mount = tmp_path / "mnt"
    mount.mkdir()
    try:
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], check=True,
                       capture_output=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"cannot mount a tmpfs here (needs root or CAP_SYS_ADMIN): {exc}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False, capture_output=True)


def _previous_bundle(mount: Path) -> Path:
    bundle = mount / "bundle"
    bundle.mkdir()
    write_marker(bundle, "bundle")
    (bundle / "report.json").write_text("{}\n")
    return bundle


def test_too_small_location_is_refused_before_any_stage(workspace, capsys, small_fs):
    _previous_bundle(small_fs)
    before = snapshot(small_fs)
    code, _, err = run_cli(capsys, "export", workspace["recipe"], "--out", small_fs / "bundle")
    assert_one_line_error(code, err, REFUSED, "too little room", "MiB free", "64 MiB needed")
    assert "start" not in err
    assert snapshot(small_fs) == before


def test_read_only_location_is_refused(workspace, capsys, small_fs):
    _previous_bundle(small_fs)
    before = snapshot(small_fs)
    subprocess.run(["mount", "-o", "remount,ro", str(small_fs)], check=True, capture_output=True)
    code, _, err = run_cli(capsys, "export", workspace["recipe"], "--out", small_fs / "bundle")
    assert_one_line_error(code, err, REFUSED, "not writable", "Read-only file system")
    assert snapshot(small_fs) == before


def test_disk_full_while_packaging_keeps_the_previous_bundle(workspace, capsys, small_fs, monkeypatch):
    _previous_bundle(small_fs)
    with open(small_fs / "filler", "wb") as filler:  # the user's own data fills the disk
        try:
            while True:
                filler.write(b"\0" * 65536)
                filler.flush()
        except OSError:
            pass
    before = snapshot(small_fs)
    monkeypatch.setattr(outputs, "MIN_FREE_BYTES", 0)  # past the room check, so the write itself fails
    monkeypatch.setattr(outputs, "SIZE_FACTOR", 0)
    code, _, err = run_cli(capsys, "export", workspace["recipe"], "--out", small_fs / "bundle")
    assert_one_line_error(code, err, REFUSED, "cannot write --out", "No space left on device")
    assert snapshot(small_fs) == before
    assert sorted(p.name for p in small_fs.iterdir()) == ["bundle", "filler"]


def test_bundle_from_before_the_marker_is_recognised_by_its_manifest(tmp_path):
    old = tmp_path / "bundle"
    old.mkdir()
    (old / "manifest.json").write_text(json.dumps({"kind": "edge_pipeline.bundle", "schema_version": 1}))
    assert outputs.is_marked(old)
    (old / "manifest.json").write_text(json.dumps({"kind": "something else"}))
    assert not outputs.is_marked(old)


def test_a_looping_link_as_out_is_one_line_error(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    before = snapshot(tmp_path)
    code, _, err = run_cli(capsys, "export", "--out", "a/bundle")
    assert_one_line_error(code, err, REFUSED, "a/bundle", "looping link")
    assert snapshot(tmp_path) == before
