import pytest

from edge_pipeline.artifacts.atomic import atomic_directory, atomic_path
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
