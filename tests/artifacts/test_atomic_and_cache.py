import os
import subprocess
import sys

import pytest

from edge_pipeline.artifacts.atomic import atomic_directory, atomic_path, clean_stale_siblings
from edge_pipeline.artifacts.cache import StageCache, StageKey


def test_failed_atomic_write_leaves_nothing(tmp_path):
    final = tmp_path / "model.onnx"
    with pytest.raises(RuntimeError):
        with atomic_path(final) as tmp:
            tmp.write_text("half")
            raise RuntimeError("stage failed")
    assert list(tmp_path.iterdir()) == []


def test_failed_bundle_keeps_the_previous_one(tmp_path):
    out = tmp_path / "bundle"
    with atomic_directory(out) as tmp:
        (tmp / "report.json").write_text("{}")
    with pytest.raises(RuntimeError):
        with atomic_directory(out) as tmp:
            (tmp / "report.json").write_text("half")
            raise RuntimeError("boom")
    assert (out / "report.json").read_text() == "{}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bundle"]


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_temp_names_carry_the_writers_pid(tmp_path):
    with atomic_directory(tmp_path / "bundle") as tmp:
        assert tmp.name.startswith(f".bundle.{os.getpid()}.") and tmp.name.endswith(".partial")
    with atomic_path(tmp_path / "report.json") as tmp:
        assert tmp.name.startswith(f".report.json.{os.getpid()}.")


def test_stale_siblings_of_dead_writers_are_removed(tmp_path):
    dead = _dead_pid()
    (tmp_path / "bundle").mkdir()
    stale = [tmp_path / f".bundle.{dead}.abc_1234.partial", tmp_path / f".bundle.old-{dead}"]
    for path in stale:
        path.mkdir()
    (tmp_path / f".report.json.{dead}.k2j3h4g5.partial").write_text("half")
    kept = [tmp_path / f".bundle.{os.getpid()}.abc_1234.partial",  # a live writer (this process)
            tmp_path / ".bundle.mine.partial", tmp_path / f".bundlex.{dead}.abc.partial",
            tmp_path / f".other.{dead}.abc.partial"]
    for path in kept:
        path.mkdir()
    assert sorted(clean_stale_siblings(tmp_path / "bundle")) == sorted(stale)
    assert clean_stale_siblings(tmp_path / "report.json") == [tmp_path / f".report.json.{dead}.k2j3h4g5.partial"]
    assert all(path.is_dir() for path in kept) and (tmp_path / "bundle").is_dir()


def test_swap_killed_half_way_puts_the_previous_folder_back(tmp_path):
    """Killed between moving the old bundle aside and moving the new one in: the old one returns."""
    old = tmp_path / f".bundle.old-{_dead_pid()}"
    old.mkdir()
    (old / "report.json").write_text("{}")
    assert clean_stale_siblings(tmp_path / "bundle") == []
    assert (tmp_path / "bundle" / "report.json").read_text() == "{}" and not old.exists()


def test_cache_publishes_only_finished_entries(tmp_path):
    cache = StageCache(tmp_path)
    key = StageKey("export", {"model": "abc"})
    with pytest.raises(RuntimeError):
        with cache.build(key) as entry:
            (entry.directory / "model.onnx").write_text("x")
            raise RuntimeError("boom")
    assert cache.lookup(key) is None
    with cache.build(key) as entry:
        entry.payload = {"ok": True}
    assert cache.lookup(key).payload == {"ok": True}
    assert cache.lookup(StageKey("export", {"model": "abd"})) is None
