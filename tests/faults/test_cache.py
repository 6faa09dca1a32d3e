"""A cache you can trust: every hit is checked against the sizes and sha256 recorded when it was
cached; a corrupt entry is evicted, rebuilt and reported; runs sharing a cache take turns instead of
deleting each other's work; killed runs' leftovers go; `cache info|clean` touch nothing of the user's."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from edge_pipeline.artifacts.cache import ENTRY_FILE, MARKER_FILE, StageCache, StageKey, owner_tag, read_entry
from edge_pipeline.artifacts.hashing import sha256_file
from edge_pipeline.errors import OutputError
from tests.conftest import REPO, tiny_recipe_dict, write_recipe
from tests.faults.harness import assert_one_line_error, run_cli, snapshot

QUANTIZE_STEP = "teacher/x86-cpu-onnxruntime/int8"


@pytest.fixture(scope="module")
def warm(tmp_path_factory) -> tuple[Path, Path]:
    """A tiny [export, quantize] recipe and a cache holding both steps (built once for the module)."""
    from edge_pipeline import api
    from edge_pipeline.testing.tiny import labelled_arrays

    root = tmp_path_factory.mktemp("cache-faults")
    data = {}
    for role, seed in (("calibration", 1), ("eval", 2)):
        x, y = labelled_arrays(48, seed=seed)
        data[role] = root / f"{role}.npz"
        np.savez(data[role], x=x, y=y)
    recipe = write_recipe(root / "recipe.yaml", tiny_recipe_dict(data, stages=["export", "quantize"]))
    api.run(recipe, root / "warm-bundle", cache_dir=root / "cache")
    return recipe, root / "cache"


def copy_cache(warm_cache: Path, tmp_path: Path) -> Path:
    cache = tmp_path / "cache"
    shutil.copytree(warm_cache, cache)
    return cache


def entry_of(cache: Path, stage: str) -> Path:
    (entry,) = [p for p in (cache / "stages" / stage).iterdir() if p.is_dir() and not p.name.startswith(".")]
    return entry


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def flip_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


CORRUPTIONS = {
    "truncated int8 model": (lambda e: truncate(e / "model.int8.onnx"), "model.int8.onnx: "),
    "same-size int8 model": (lambda e: flip_byte(e / "model.int8.onnx"), "model.int8.onnx: sha256 mismatch"),
    "truncated entry.json": (lambda e: truncate(e / ENTRY_FILE), "entry.json: unreadable or not valid JSON"),
    "deleted cached file": (lambda e: (e / "model.int8.onnx").unlink(), "model.int8.onnx: missing"),
}


@pytest.mark.parametrize("corruption", list(CORRUPTIONS))
def test_corrupt_entry_is_evicted_rebuilt_and_reported(warm, tmp_path, capsys, corruption):
    recipe, warm_cache = warm
    cache = copy_cache(warm_cache, tmp_path)
    corrupt, reason = CORRUPTIONS[corruption]
    corrupt(entry_of(cache, "quantize"))
    code, out, err = run_cli(capsys, "run", recipe, "--out", tmp_path / "bundle", "--cache-dir", cache)
    assert code == 0, err
    assert "Traceback" not in err and "cache entry was corrupt" in err and reason in err
    manifest = json.loads((tmp_path / "bundle" / "manifest.json").read_text())
    note = f"cache entry for quantize/{QUANTIZE_STEP} was corrupt ({reason}"
    assert any(n.startswith(note) and n.endswith("; rebuilt") for n in manifest["notes"]), manifest["notes"]
    assert {s["step"]: s["cached"] for s in manifest["steps"]} == {"teacher": True, QUANTIZE_STEP: False}
    for artifact in manifest["artifacts"]:  # the bundle holds what the manifest claims
        path = tmp_path / "bundle" / artifact["path"]
        assert sha256_file(path) == artifact["sha256"] and path.stat().st_size == artifact["size_bytes"]
    assert read_entry(entry_of(cache, "quantize"))[1] is None  # the rebuilt entry verifies
    assert not [p for p in (cache / "stages" / "quantize").iterdir() if p.name.startswith(".")]  # no trash left


@pytest.mark.parametrize("inside", [False, True])
def test_cache_dir_that_is_a_file_is_one_line(warm, tmp_path, capsys, inside):
    recipe, _ = warm
    file = tmp_path / "not-a-folder"
    file.write_text("user data")
    cache_dir = file / "sub" if inside else file
    code, _, err = run_cli(capsys, "run", recipe, "--out", tmp_path / "bundle", "--cache-dir", cache_dir)
    assert_one_line_error(code, err, OutputError.exit_code, "--cache-dir", str(cache_dir))
    assert file.read_text() == "user data" and not (tmp_path / "bundle").exists()


def test_unwritable_cache_dir_is_one_line(warm, tmp_path, capsys, monkeypatch):
    """(Permissions are simulated: the tests may run as root, who can write anywhere.)"""
    from edge_pipeline.artifacts import cache as cache_module

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    recipe, _ = warm
    monkeypatch.setattr(cache_module.tempfile, "TemporaryFile", refuse)
    code, _, err = run_cli(capsys, "run", recipe, "--out", tmp_path / "bundle", "--cache-dir", tmp_path / "c")
    assert_one_line_error(code, err, OutputError.exit_code, "--cache-dir", "not a writable folder (Permission denied)")


def test_stale_partials_of_dead_runs_are_removed(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stage = tmp_path / "stages" / "quantize"
    key = "0" * 32
    stale = stage / f".{key}.{owner_tag(dead.pid)}.abc123de.partial"
    running = stage / f".{key}.{owner_tag(os.getpid())}.abc123de.partial"
    other_host = stage / f".{key}.elsewhere-{dead.pid}.abc123de.partial"
    user = stage / ".my-notes.partial"
    for folder in (stale, running, other_host, user):
        folder.mkdir(parents=True)
    StageCache(tmp_path / "stages")
    assert not stale.exists()
    assert running.exists() and other_host.exists() and user.exists()


def test_publishing_keeps_an_entry_another_run_reads(tmp_path):
    """Two builds of one key without the lock (a filesystem without flock): the first entry stays
    in place, open files and all, and the second run gets the first's payload."""
    cache = StageCache(tmp_path)
    key = StageKey("export", {"model": "abc"})
    with cache.build(key) as first:
        (first.directory / "model.onnx").write_text("first")
        first.payload = {"made_by": "first"}
    reader = open(first.directory / "model.onnx")  # held open across the second publish
    with cache.build(key) as second:
        (second.directory / "model.onnx").write_text("second")
        second.payload = {"made_by": "second"}
    assert second.directory == first.directory and second.payload == {"made_by": "first"}
    assert reader.read() == "first" and (first.directory / "model.onnx").read_text() == "first"
    reader.close()
    assert sorted(p.name for p in (tmp_path / "export").iterdir()) == [first.directory.name]


def test_a_run_waits_for_the_one_building_its_step_and_reuses_it(tmp_path):
    cache = StageCache(tmp_path)
    key = StageKey("quantize", {"model": "abc"})
    building, release = threading.Event(), threading.Event()

    def slow_fill(directory: Path) -> dict:
        building.set()
        release.wait(10)
        (directory / "model.onnx").write_text("made once")
        return {"made_by": "first"}

    def must_not_run(directory: Path) -> dict:
        raise AssertionError("the second run rebuilt a step the first was building")

    first = threading.Thread(target=cache.obtain, args=(key, slow_fill))
    first.start()
    assert building.wait(10)
    results = []
    second = threading.Thread(target=lambda: results.append(cache.obtain(key, must_not_run)))
    second.start()
    second.join(0.3)
    assert second.is_alive()  # waiting on the lock, not building or reading half an entry
    release.set()
    first.join(10)
    second.join(10)
    (obtained,) = results
    assert obtained.cached and obtained.entry.payload == {"made_by": "first"}


def test_two_runs_on_one_cache_share_work(warm, tmp_path):
    """Two CLI runs racing on one cache both succeed, with byte-identical artifacts: one builds the
    quantize step, the other waits for it (or finds it) and re-uses it."""
    recipe, warm_cache = warm
    cache = copy_cache(warm_cache, tmp_path)
    shutil.rmtree(cache / "stages" / "quantize")
    env = {**os.environ, "EDGE_PIPELINE_PROGRESS": "lines", "PYTHONPATH": str(REPO)}
    runs = [subprocess.Popen([sys.executable, "-m", "edge_pipeline", "run", str(recipe), "--out",
                              str(tmp_path / name), "--cache-dir", str(cache)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
            for name in ("A", "B")]
    for run in runs:
        _, err = run.communicate(timeout=300)
        assert run.returncode == 0 and "Traceback" not in err, err
    manifests = [json.loads((tmp_path / name / "manifest.json").read_text()) for name in ("A", "B")]
    built = [{s["step"]: s["cached"] for s in m["steps"]}[QUANTIZE_STEP] for m in manifests]
    assert sorted(built) == [False, True]  # exactly one run built the step
    files = [snapshot(tmp_path / name / "artifacts") for name in ("A", "B")]
    assert files[0] == files[1] and files[0]
    assert not [p for p in (cache / "stages" / "quantize").iterdir() if p.name.startswith(".")]


def test_cache_info_lists_stages_corrupt_entries_and_partials(warm, tmp_path, capsys):
    _, warm_cache = warm
    cache = copy_cache(warm_cache, tmp_path)
    flip_byte(entry_of(cache, "quantize") / "model.int8.onnx")
    (cache / "stages" / "export" / f".{'1' * 32}.{owner_tag(os.getpid())}.abc123de.partial").mkdir()
    code, out, err = run_cli(capsys, "cache", "info", "--cache-dir", cache, "--verify")
    assert code == 0, err
    assert f"cache: {cache.resolve()}" in out
    lines = {line.split()[0]: line.split()[1] for line in out.splitlines() if line[:1].isalpha()}
    assert lines["export"] == "1" and lines["quantize"] == "1" and lines["total"] == "2"
    assert "corrupt: quantize/" in out and "sha256 mismatch" in out
    assert "partial: export/." in out and "a run in progress" in out


def test_cache_clean_by_stage_then_all(warm, tmp_path, capsys):
    _, warm_cache = warm
    cache = copy_cache(warm_cache, tmp_path)
    user_file = cache / "notes.txt"  # beside stages/: never the cache's to remove
    user_file.write_text("mine")
    code, out, err = run_cli(capsys, "cache", "clean", "--cache-dir", cache, "--older-than", "1")
    assert code == 0 and "removed 0 entries" in out, err  # both were used moments ago
    code, out, err = run_cli(capsys, "cache", "clean", "--cache-dir", cache, "--stage", "quantize")
    assert code == 0 and "removed 1 entries" in out, err
    assert not (cache / "stages" / "quantize").exists() and entry_of(cache, "export").is_dir()
    code, out, err = run_cli(capsys, "cache", "clean", "--cache-dir", cache)
    assert code == 0 and "removed 1 entries" in out, err
    assert sorted(p.name for p in (cache / "stages").iterdir()) == [MARKER_FILE]
    assert user_file.read_text() == "mine"


@pytest.mark.parametrize("layout", ["user folder", "stages holding a user file"])
def test_cache_clean_refuses_a_folder_that_is_not_a_cache(tmp_path, capsys, layout):
    folder = tmp_path / "mine"
    (folder / "stages" / "export").mkdir(parents=True)
    (folder / "photo.jpg").write_bytes(b"\xff\xd8")
    if layout == "stages holding a user file":
        (folder / "stages" / "export" / "draft.txt").write_text("keep me")
    else:
        (folder / "stages" / "export" / "draft.txt").mkdir()
    before = snapshot(folder)
    code, _, err = run_cli(capsys, "cache", "clean", "--cache-dir", folder)
    assert_one_line_error(code, err, OutputError.exit_code, "--cache-dir", "does not look like an edge_pipeline cache")
    assert snapshot(folder) == before and (folder / "stages" / "export" / "draft.txt").exists()
